// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data block; offsets are relative to the data block.
#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"

namespace instruct {

namespace {

size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal
      int e = -1;
      uint32_t m = mant;
      do {
        e++, m <<= 1;
      } while (!(m & 0x400));
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t SafeTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensorsFile::SafeTensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string f = path.string();
  const int fd = ::open(f.c_str(), O_RDONLY);
  if (fd < 0) fail(f, ": cannot open (", std::strerror(errno), "); check the checkpoint path");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(f, ": cannot stat (", std::strerror(errno), ")");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    fail(f, ": truncated safetensors file (", size_,
         " bytes, not even a header length); re-download it");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail(f, ": cannot map the file (", std::strerror(errno), ")");
  }
  const auto* bytes = static_cast<const uint8_t*>(map_);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | bytes[i];
  if (n > size_ - 8)
    fail(f, ": header length ", n, " runs past the end of the file (", size_,
         " bytes); the file is truncated or not safetensors");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    fail(f, ": the header is not valid JSON (", e.what(), "); the file is corrupt");
  }
  if (!header.is_object()) fail(f, ": the header is not a JSON object; the file is corrupt");
  const uint8_t* data = bytes + 8 + n;
  const size_t data_size = size_ - 8 - n;
  std::vector<std::pair<size_t, size_t>> spans;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (v.is_object())
        for (auto& [k, mv] : v.items())
          if (mv.is_string()) metadata_[k] = mv.get<std::string>();
      continue;
    }
    const std::string where = f + ": tensor \"" + name + "\"";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets"))
      fail(where, ": entry needs dtype, shape and data_offsets; the file is corrupt");
    SafeTensor t;
    if (!v["dtype"].is_string() || !dtype_size(v["dtype"].get<std::string>()))
      fail(where, ": unknown dtype ", v["dtype"].dump());
    t.dtype = v["dtype"].get<std::string>();
    if (!v["shape"].is_array()) fail(where, ": shape is not an array");
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail(where, ": shape has an invalid dimension ", d.dump());
      t.shape.push_back(d.get<int64_t>());
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      fail(where, ": data_offsets must be two non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size)
      fail(where, ": data_offsets [", begin, ", ", end, "] lie outside the data (", data_size,
           " bytes); the file is truncated or corrupt");
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d && numel > INT64_MAX / d) fail(where, ": shape ", shape_str(t.shape), " is too large");
      numel *= d;
    }
    if (static_cast<uint64_t>(numel) * dtype_size(t.dtype) != end - begin)
      fail(where, ": ", end - begin, " bytes of data for shape ", shape_str(t.shape), " of ",
           t.dtype, " (needs ", static_cast<uint64_t>(numel) * dtype_size(t.dtype),
           "); the header lies");
    t.data = data + begin;
    t.nbytes = end - begin;
    if (t.nbytes) spans.emplace_back(begin, end);
    tensors_.emplace(name, std::move(t));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); i++)
    if (spans[i].first < spans[i - 1].second)
      fail(f, ": two tensors overlap at data offset ", spans[i].first, "; the file is corrupt");
}

SafeTensorsFile::~SafeTensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const SafeTensor& SafeTensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    fail(path_.string(), ": tensor \"", name,
         "\" is missing; is this a GPT-2 checkpoint of this size?");
  return it->second;
}

void SafeTensorsFile::read_f32(const std::string& name, const std::vector<int64_t>& shape,
                               float* out) const {
  const SafeTensor& t = at(name);
  if (t.shape != shape)
    fail(path_.string(), ": tensor \"", name, "\" has shape ", shape_str(t.shape), ", expected ",
         shape_str(shape), " for this model config");
  const int64_t n = t.numel();
  if (t.dtype == "F32") {
    if (n)
      std::memcpy(out, t.data,
                  static_cast<size_t>(n) * 4);  // (an empty tensor may have no pointers)
  } else if (t.dtype == "F16" || t.dtype == "BF16") {
    const bool bf = t.dtype == "BF16";
    for (int64_t i = 0; i < n; i++) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      if (bf) {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      } else {
        out[i] = half_to_float(h);
      }
    }
  } else {
    fail(path_.string(), ": tensor \"", name, "\" has dtype ", t.dtype,
         "; expected F32, F16 or BF16");
  }
}

void safetensors_write(const std::filesystem::path& path, const std::vector<SafeTensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const SafeTensorOut& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const uint64_t bytes = dtype_size(t.dtype) * static_cast<uint64_t>(n);
    if (!bytes && n) fail("internal: safetensors dtype ", t.dtype, " of ", t.name);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + bytes}}};
    off += bytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h += ' ';  // keep the data block 8-byte aligned
  AtomicFile f(path);
  uint8_t len[8];
  for (int i = 0; i < 8; i++)
    len[i] = static_cast<uint8_t>(static_cast<uint64_t>(h.size()) >> (8 * i));
  f.stream().write(reinterpret_cast<const char*>(len), 8);
  f.stream() << h;
  for (const SafeTensorOut& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    f.stream().write(static_cast<const char*>(t.data),
                     static_cast<std::streamsize>(dtype_size(t.dtype) * n));
  }
  f.commit();
}

}  // namespace instruct
