// safetensors read (mmap, every offset and size bounds-checked) and write (F32). Errors name the
// file and the tensor. Knows nothing of GPT-2 names; see checkpoint.hpp for that.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace instruct {

struct SafeTensor {
  std::string dtype;  // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafeTensorsFile {
 public:
  explicit SafeTensorsFile(const std::filesystem::path& path);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  const std::map<std::string, SafeTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }
  // The tensor, or an error naming it and the file.
  const SafeTensor& at(const std::string& name) const;
  // Converts F32/F16/BF16 to float into out (numel floats); the shape must equal `shape`.
  void read_f32(const std::string& name, const std::vector<int64_t>& shape, float* out) const;

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, SafeTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct SafeTensorOut {
  std::string name;
  std::vector<int64_t> shape;
  const void* data;
  std::string dtype = "F32";  // F32, BF16, U8, ...
};
// Writes tensors atomically (temp file + rename), in the order given.
void safetensors_write(const std::filesystem::path& path, const std::vector<SafeTensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace instruct
