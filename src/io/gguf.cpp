// GGUF v3: "GGUF", version, tensor count, KV count, the KVs (typed), the tensor infos (name, dims
// innermost first, type, offset), then the data, every tensor aligned to general.alignment (32).
#include "io/gguf.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>

#include "core/error.hpp"
#include "core/files.hpp"
#include "data/prompt_template.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"
#include "kernels/q8.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kAlign = 32;
enum GgufType : uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64
};
enum GgmlType : uint32_t { kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ8_0 = 8, kGgmlBF16 = 30 };

// ggml's type names (ggml.h's enum ggml_type), for errors about the ones we do not load.
std::string ggml_type_name(uint32_t t) {
  static const char* const names[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "type 4", "type 5", "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",   "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",  "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M",  "BF16"};
  return t < std::size(names) ? names[t] : "ggml type " + std::to_string(t);
}

// Bytes of n values of a type (Q8_0: 34 per block of 32).
uint64_t type_bytes(uint32_t type, uint64_t n) {
  return type == kGgmlF32 ? 4 * n : type == kGgmlQ8_0 ? n / kQ8Block * sizeof(BlockQ8) : 2 * n;
}

struct Out {
  std::string b;
  uint64_t keys = 0;
  template <class T>
  void put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
  }
  void key(const std::string& k, GgufType t) {
    keys++;
    str(k);
    put<uint32_t>(t);
  }
};

// One tensor as llama.cpp names and lays it out.
struct TensorOut {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first
  GgmlType type;
  std::vector<float> data;  // row-major [ne1][ne0]
};

std::vector<float> transposed(const float* w, int64_t rows, int64_t cols) {
  std::vector<float> t(static_cast<size_t>(rows * cols));
  transpose(t.data(), w, rows, cols);
  return t;
}

// Our parameter name -> llama.cpp's ("h.3.attn.c_attn.weight" -> "blk.3.attn_qkv.weight").
std::string gguf_name(const std::string& ours) {
  static const std::pair<const char*, const char*> kParts[] = {
      {"ln_1.", "attn_norm."}, {"attn.c_attn.", "attn_qkv."}, {"attn.c_proj.", "attn_output."},
      {"ln_2.", "ffn_norm."},  {"mlp.c_fc.", "ffn_up."},      {"mlp.c_proj.", "ffn_down."}};
  if (ours == "wte.weight") return "token_embd.weight";
  if (ours == "wpe.weight") return "position_embd.weight";
  if (ours.rfind("ln_f.", 0) == 0) return "output_norm." + ours.substr(5);
  if (ours == "lm_head.weight") return "output.weight";
  if (ours.rfind("h.", 0) == 0) {
    const size_t dot = ours.find('.', 2);
    const std::string layer = ours.substr(2, dot - 2), rest = ours.substr(dot + 1);
    for (const auto& [from, to] : kParts)
      if (rest.rfind(from, 0) == 0)
        return "blk." + layer + "." + to + rest.substr(std::strlen(from));
  }
  fail("internal: no GGUF name for ", ours);
}

}  // namespace

bool gguf_path(const fs::path& path) {
  return path.extension() == ".gguf" && fs::is_regular_file(path);
}

void gguf_write(const fs::path& path, const GPT2& m, const Bpe& bpe, const GgufWriteOptions& o) {
  const GgmlType mat = o.type == "f32"    ? kGgmlF32
                       : o.type == "f16"  ? kGgmlF16
                       : o.type == "bf16" ? kGgmlBF16
                       : o.type == "q8_0" ? kGgmlQ8_0
                                          : kGgmlF32;
  if (o.type != "f32" && o.type != "f16" && o.type != "bf16" && o.type != "q8_0")
    fail("--type ", o.type, " is unknown; use f32, f16, bf16 or q8_0");
  const GPT2Config& c = m.cfg;
  // Tensors: every parameter (the head always as output.weight, tied or not: llama.cpp would
  // otherwise reuse token_embd without saying so).
  std::vector<TensorOut> tensors;
  for (const ParamSpec& s : m.w.table) {
    const float* w = m.w.params.data() + s.offset;
    TensorOut t{gguf_name(s.name), {}, s.shape.size() == 1 ? kGgmlF32 : mat, {}};
    // Q8_0 rows are whole blocks: a matrix whose rows are not (a tiny model's) stays f32.
    const int64_t row = s.shape.size() == 1                 ? 0
                        : s.layout == WeightLayout::kConv1D ? s.shape[0]
                                                            : s.shape[1];
    if (t.type == kGgmlQ8_0 && row % kQ8Block != 0) t.type = kGgmlF32;
    if (s.shape.size() == 1) {
      t.ne = {static_cast<uint64_t>(s.shape[0])};
      t.data.assign(w, w + s.numel);
    } else if (s.layout == WeightLayout::kConv1D) {  // HF [in, out] -> [out, in]
      t.ne = {static_cast<uint64_t>(s.shape[0]), static_cast<uint64_t>(s.shape[1])};
      t.data = transposed(w, s.shape[0], s.shape[1]);
    } else {  // embeddings and the head: [rows, C] as they are
      t.ne = {static_cast<uint64_t>(s.shape[1]), static_cast<uint64_t>(s.shape[0])};
      t.data.assign(w, w + s.numel);
    }
    tensors.push_back(std::move(t));
  }
  if (c.tied) {
    const ParamSpec& wte = m.w.spec("wte.weight");
    const float* w = m.w.params.data() + wte.offset;
    tensors.push_back({"output.weight",
                       {static_cast<uint64_t>(c.n_embd), static_cast<uint64_t>(c.vocab)},
                       mat == kGgmlQ8_0 && c.n_embd % kQ8Block != 0 ? kGgmlF32 : mat,
                       std::vector<float>(w, w + wte.numel)});
  }

  Out h;  // the key-value section
  const std::vector<std::string> merges = bpe_merges_text(bpe);
  auto kv_str = [&](const char* k, const std::string& v) { h.key(k, kString), h.str(v); };
  auto kv_u32 = [&](const char* k, uint32_t v) { h.key(k, kU32), h.put(v); };
  kv_str("general.architecture", "gpt2");
  kv_str("general.name", o.name.empty() ? "instruct" : o.name);
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32.
  kv_u32("general.file_type", mat == kGgmlF32    ? 0
                              : mat == kGgmlF16  ? 1
                              : mat == kGgmlQ8_0 ? 7
                                                 : 32);
  kv_u32("general.alignment", kAlign);
  kv_u32("gpt2.context_length", c.n_ctx);
  kv_u32("gpt2.embedding_length", c.n_embd);
  kv_u32("gpt2.feed_forward_length", 4 * c.n_embd);
  kv_u32("gpt2.block_count", c.n_layer);
  kv_u32("gpt2.attention.head_count", c.n_head);
  h.key("gpt2.attention.layer_norm_epsilon", kF32), h.put<float>(1e-5f);
  kv_str("tokenizer.ggml.model", "gpt2");
  kv_str("tokenizer.ggml.pre", "gpt-2");
  h.key("tokenizer.ggml.tokens", kArray), h.put<uint32_t>(kString), h.put<uint64_t>(bpe.size());
  for (int32_t id = 0; id < bpe.size(); id++) h.str(bpe_token_text(bpe, id));
  h.key("tokenizer.ggml.token_type", kArray), h.put<uint32_t>(kI32), h.put<uint64_t>(bpe.size());
  for (int32_t id = 0; id < bpe.size(); id++)
    h.put<int32_t>(id == bpe.eot ? 3 : 1);  // control / normal
  h.key("tokenizer.ggml.merges", kArray), h.put<uint32_t>(kString), h.put<uint64_t>(merges.size());
  for (const std::string& mline : merges) h.str(mline);
  kv_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bpe.eot));
  kv_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(bpe.eot));
  h.key("tokenizer.ggml.add_bos_token", kBool), h.put<uint8_t>(0);
  kv_str("instruct.template", o.template_name);
  kv_str("instruct.format", "instruct.cpp/1");

  // Header, then the tensor infos with offsets into the (aligned) data section.
  Out head;
  head.b = "GGUF";
  head.put<uint32_t>(3);
  head.put<uint64_t>(tensors.size());
  head.put<uint64_t>(h.keys);
  h.b = head.b + h.b;
  uint64_t offset = 0;
  for (const TensorOut& t : tensors) {
    h.str(t.name);
    h.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) h.put<uint64_t>(d);
    h.put<uint32_t>(t.type);
    h.put<uint64_t>(offset);
    offset += (type_bytes(t.type, t.data.size()) + kAlign - 1) / kAlign * kAlign;
  }
  h.b.append((kAlign - h.b.size() % kAlign) % kAlign, '\0');

  AtomicFile f(path);
  std::ostream& out = f.stream();
  out.write(h.b.data(), static_cast<std::streamsize>(h.b.size()));
  std::vector<uint16_t> half;
  std::vector<BlockQ8> blocks;
  for (const TensorOut& t : tensors) {
    const size_t bytes = type_bytes(t.type, t.data.size());
    if (t.type == kGgmlQ8_0) {
      blocks.resize(t.data.size() / kQ8Block);
      q8_quantize(blocks.data(), t.data.data(), static_cast<int64_t>(t.data.size()));
      out.write(reinterpret_cast<const char*>(blocks.data()), static_cast<std::streamsize>(bytes));
    } else if (t.type == kGgmlF32) {
      out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(bytes));
    } else {
      half.resize(t.data.size());
      if (t.type == kGgmlBF16)
        to_bf16(half.data(), t.data.data(), static_cast<int64_t>(t.data.size()));
      else
        for (size_t i = 0; i < t.data.size(); i++) half[i] = fp16_from_float(t.data[i]);
      out.write(reinterpret_cast<const char*>(half.data()), static_cast<std::streamsize>(bytes));
    }
    const std::string pad((kAlign - bytes % kAlign) % kAlign, '\0');
    out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
  }
  f.commit();
}

namespace {

// A parsed GGUF: scalar KVs we use, tensor infos, the data section's offset.
struct Gguf {
  fs::path path;
  std::map<std::string, uint64_t> ints;
  std::map<std::string, std::string> strings;
  struct Info {
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
    uint64_t type_at;  // where `type` sits in the file (then the u64 offset)
  };
  std::map<std::string, Info> tensors;
  uint64_t data_start = 0;
};

Gguf gguf_parse(const fs::path& path) {
  Gguf g;
  g.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), ": cannot open the GGUF file");
  auto bad = [&](const std::string& why) {
    fail(path.string(), ": ", why, "; is this a complete GGUF file?");
  };
  auto get = [&](auto& v) {
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    if (!in) bad("ends early");
  };
  auto str = [&] {
    uint64_t n;
    get(n);
    if (n > (1u << 24)) bad("a string longer than 16 MiB");
    std::string s(n, '\0');
    in.read(s.data(), static_cast<std::streamsize>(n));
    if (!in) bad("ends early");
    return s;
  };
  char magic[4];
  in.read(magic, 4);
  if (!in || std::memcmp(magic, "GGUF", 4) != 0)
    fail(path.string(), ": not a GGUF file (no \"GGUF\" magic)");
  uint32_t version;
  get(version);
  if (version != 3 && version != 2)
    fail(path.string(), ": GGUF version ", version, " is not supported (2 or 3)");
  uint64_t n_tensors, n_kv;
  get(n_tensors), get(n_kv);
  // Arrays may hold arrays; a lying file could nest them until the stack runs out.
  int depth = 0;
  std::function<void(uint32_t, const std::string&)> value = [&](uint32_t t,
                                                                const std::string& key) {
    switch (t) {
      case kU8:
      case kI8:
      case kBool: {
        uint8_t v;
        get(v);
        if (!depth) g.ints[key] = v;
        break;
      }
      case kU16:
      case kI16: {
        uint16_t v;
        get(v);
        if (!depth) g.ints[key] = v;
        break;
      }
      case kU32:
      case kI32: {
        uint32_t v;
        get(v);
        if (!depth) g.ints[key] = v;
        break;
      }
      case kF32: {
        float v;
        get(v);
        break;
      }
      case kU64:
      case kI64: {
        uint64_t v;
        get(v);
        if (!depth) g.ints[key] = v;
        break;
      }
      case kF64: {
        double v;
        get(v);
        break;
      }
      case kString: {
        std::string v = str();
        if (!depth) g.strings[key] = std::move(v);
        break;
      }
      case kArray: {
        uint32_t et;
        uint64_t n;
        get(et), get(n);
        if (++depth > 8) bad("key " + key + " nests arrays more than 8 deep");
        for (uint64_t i = 0; i < n; i++) value(et, key);
        depth--;
        break;
      }
      default:
        bad("key " + key + " has an unknown type " + std::to_string(t));
    }
  };
  for (uint64_t i = 0; i < n_kv; i++) {
    const std::string key = str();
    uint32_t t;
    get(t);
    value(t, key);
  }
  for (uint64_t i = 0; i < n_tensors; i++) {
    const std::string name = str();
    uint32_t nd;
    get(nd);
    if (nd > 4) bad("tensor " + name + " has " + std::to_string(nd) + " dimensions");
    Gguf::Info info;
    info.ne.resize(nd);
    for (auto& d : info.ne) get(d);
    info.type_at = static_cast<uint64_t>(in.tellg());
    get(info.type), get(info.offset);
    g.tensors[name] = info;
  }
  const uint64_t align = g.ints.count("general.alignment") ? g.ints["general.alignment"] : kAlign;
  if (align == 0 || (align & (align - 1)) || align > (1u << 20))
    bad("general.alignment " + std::to_string(align) + " is not a power of two up to 1 MiB");
  const uint64_t pos = static_cast<uint64_t>(in.tellg());
  g.data_start = (pos + align - 1) / align * align;
  return g;
}

}  // namespace

std::string gguf_template(const fs::path& path) {
  const Gguf g = gguf_parse(path);
  const auto it = g.strings.find("instruct.template");
  return it == g.strings.end() ? "" : it->second;
}

std::vector<GgufTensorInfo> gguf_tensors(const fs::path& path) {
  const Gguf g = gguf_parse(path);
  std::vector<GgufTensorInfo> out;
  for (const auto& [name, t] : g.tensors)
    out.push_back({name, ggml_type_name(t.type), t.ne, t.type_at, g.data_start + t.offset});
  return out;
}

GPT2 gguf_load(const fs::path& path) {
  Gguf g = gguf_parse(path);
  if (g.strings["general.architecture"] != "gpt2")
    fail(path.string(), ": general.architecture is \"", g.strings["general.architecture"],
         "\"; only gpt2 GGUF files load");
  auto need = [&](const char* k) -> uint64_t {
    if (!g.ints.count(k)) fail(path.string(), ": key ", k, " is missing");
    return g.ints[k];
  };
  auto size = [&](const char* k) {
    const uint64_t v = need(k);
    if (v < 1 || v > (1u << 30)) fail(path.string(), ": ", k, " is ", v, "; expected 1..2^30");
    return static_cast<int>(v);
  };
  GPT2Config c;
  c.n_layer = size("gpt2.block_count");
  c.n_ctx = size("gpt2.context_length");
  c.n_embd = size("gpt2.embedding_length");
  c.n_head = size("gpt2.attention.head_count");
  const auto emb = g.tensors.find("token_embd.weight");
  if (emb == g.tensors.end()) fail(path.string(), ": tensor token_embd.weight is missing");
  if (emb->second.ne.size() != 2 || emb->second.ne[1] < 1 || emb->second.ne[1] > (1u << 30))
    fail(path.string(), ": tensor token_embd.weight is not [n_embd, vocab]");
  c.vocab = static_cast<int>(emb->second.ne[1]);
  c.tied = false;
  config_validate(c);
  // Every tensor is checked against the file before the model is allocated: a header that lies
  // about the sizes fails here, not in a huge allocation.
  const uint64_t file_size = fs::file_size(path);
  struct Source {
    const Gguf::Info* t;
    std::string name;
  };
  std::vector<Source> sources;
  for (const ParamSpec& s : param_table(c)) {
    std::string name = gguf_name(s.name);
    if (name == "output.weight" && !g.tensors.count(name))
      name = "token_embd.weight";  // llama.cpp's fallback
    const auto it = g.tensors.find(name);
    if (it == g.tensors.end()) fail(path.string(), ": tensor ", name, " is missing");
    const Gguf::Info& t = it->second;
    const bool conv = s.layout == WeightLayout::kConv1D;
    const std::vector<uint64_t> want =
        s.shape.size() == 1 ? std::vector<uint64_t>{static_cast<uint64_t>(s.shape[0])}
        : conv              ? std::vector<uint64_t>{static_cast<uint64_t>(s.shape[0]),
                                                    static_cast<uint64_t>(s.shape[1])}
                            : std::vector<uint64_t>{static_cast<uint64_t>(s.shape[1]),
                                                    static_cast<uint64_t>(s.shape[0])};
    if (t.ne != want)
      fail(path.string(), ": tensor ", name, " has the wrong shape for this config");
    if (t.type != kGgmlF32 && t.type != kGgmlF16 && t.type != kGgmlBF16 && t.type != kGgmlQ8_0)
      fail(path.string(), ": tensor ", name, " is ", ggml_type_name(t.type),
           "; only F32, F16, BF16 and Q8_0 load (re-export it as one of them, e.g. "
           "llama-quantize IN OUT Q8_0)");
    if (t.type == kGgmlQ8_0 && t.ne[0] % kQ8Block != 0)
      fail(path.string(), ": tensor ", name, " is Q8_0 but its rows of ", t.ne[0],
           " values are not whole blocks of ", kQ8Block, "; the file is damaged");
    const uint64_t bytes = type_bytes(t.type, static_cast<uint64_t>(s.numel));
    if (g.data_start > file_size || t.offset > file_size - g.data_start ||
        bytes > file_size - g.data_start - t.offset)
      fail(path.string(), ": tensor ", name, " runs past the end of the file (",
           ggml_type_name(t.type), " ", bytes, " bytes at offset ", t.offset,
           "); the file is truncated");
    // The next tensor's data must not start inside this one's (its size follows from its shape).
    for (const auto& [other, o] : g.tensors)
      if (o.offset > t.offset && o.offset < t.offset + bytes)
        fail(path.string(), ": tensor ", name, " needs ", bytes, " bytes (", ggml_type_name(t.type),
             " of its shape) but tensor ", other, " starts ", o.offset - t.offset,
             " bytes after it; the file is damaged");
    sources.push_back({&t, name});
  }
  GPT2 m = gpt2_create(c);
  std::ifstream in(path, std::ios::binary);
  // One staging buffer for all tensors (a fresh one each would fault its pages in again).
  int64_t most = 0;
  for (const ParamSpec& s : m.w.table) most = std::max(most, s.numel);
  Buffer stage(most);
  std::vector<uint16_t> half;
  std::vector<BlockQ8> blocks;
  for (size_t i = 0; i < m.w.table.size(); i++) {
    const ParamSpec& s = m.w.table[i];
    const Gguf::Info& t = *sources[i].t;
    const std::string& name = sources[i].name;
    const bool conv = s.layout == WeightLayout::kConv1D;
    const size_t n = static_cast<size_t>(s.numel);
    float* dst = m.w.params.data() + s.offset;
    float* buf = conv ? stage.data() : dst;  // [out, in] as stored; Conv1D transposed back below
    in.seekg(static_cast<std::streamoff>(g.data_start + t.offset));
    if (t.type == kGgmlF32) {
      in.read(reinterpret_cast<char*>(buf), static_cast<std::streamsize>(n * 4));
    } else if (t.type == kGgmlQ8_0) {  // dequantized: the fp32 model these blocks stand for
      blocks.resize(n / kQ8Block);
      in.read(reinterpret_cast<char*>(blocks.data()),
              static_cast<std::streamsize>(blocks.size() * sizeof(BlockQ8)));
      if (in)
        for (size_t b = 0; b < blocks.size(); b++)
          if (!std::isfinite(fp16_to_float(blocks[b].d)))
            fail(path.string(), ": tensor ", name, " block ", b, " has a ",
                 std::isnan(fp16_to_float(blocks[b].d)) ? "NaN" : "infinite",
                 " scale; the file is damaged (re-export it)");
      q8_dequantize(buf, blocks.data(), static_cast<int64_t>(n));
    } else {
      half.resize(n);
      in.read(reinterpret_cast<char*>(half.data()), static_cast<std::streamsize>(n * 2));
      for (size_t j = 0; j < n; j++)
        buf[j] = t.type == kGgmlBF16 ? from_bf16(half[j]) : fp16_to_float(half[j]);
    }
    if (!in) fail(path.string(), ": cannot read tensor ", name);
    if (conv) transpose(dst, buf, s.shape[1], s.shape[0]);  // [out, in] back to HF's [in, out]
  }
  return m;
}

std::string ollama_template(const std::string& template_name) {
  const PromptTemplate& t = template_find(template_name);
  Entry e;
  e.instruction = "{{ .Prompt }}";
  std::string tmpl = t.generation_prompt(e);
  // The preamble sentence becomes the system prompt's place (as `instruct serve` does).
  const std::string preamble(t.preamble());
  if (const size_t at = tmpl.find(preamble); !preamble.empty() && at != std::string::npos)
    tmpl.replace(at, preamble.size(),
                 "{{ if .System }}{{ .System }}{{ else }}" + preamble + "{{ end }}");
  else
    tmpl = "{{ if .System }}{{ .System }}\n{{ end }}" + tmpl;
  return tmpl;
}

std::string gguf_modelfile(const std::string& gguf_file_name, const std::string& template_name) {
  return "FROM ./" + gguf_file_name + "\nTEMPLATE \"\"\"" + ollama_template(template_name) +
         "\"\"\"\nPARAMETER stop \"<|endoftext|>\"\nPARAMETER temperature 0\n";
}

}  // namespace instruct
