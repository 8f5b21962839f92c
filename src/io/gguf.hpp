// GGUF (v3) for GPT-2, as llama.cpp's converter writes it and its gpt2 loader reads it:
// general.architecture "gpt2" and its hyperparameters, llama.cpp's tensor names (token_embd,
// position_embd, blk.N.attn_norm|attn_qkv|attn_output|ffn_norm|ffn_up|ffn_down, output_norm,
// output), HF's Conv1D weights transposed to [out, in], 1-D tensors in F32 and matrices in F32,
// F16, BF16 or Q8_0 (a matrix whose rows are not whole 32-value blocks stays F32); the GPT-2
// tokenizer (tokens, token types, merges in rank order, bos/eos 50256, no BOS added). Our
// training template rides along as "instruct.template". Reads back what it writes (and llama.cpp's
// F32/F16/BF16/Q8_0 gpt2 files) as a model; Q8_0 blocks are dequantized to the fp32 weights they
// stand for.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "model/gpt2.hpp"
#include "text/bpe.hpp"

namespace instruct {

struct GgufWriteOptions {
  std::string name;  // general.name
  std::string template_name = "alpaca";
  std::string type = "f32";  // f32 | f16 | bf16 | q8_0 (matrices; 1-D tensors stay f32)
};

// Writes the model (its adapter must be merged first) and the tokenizer, atomically.
void gguf_write(const std::filesystem::path& path, const GPT2& m, const Bpe& bpe,
                const GgufWriteOptions& o);
// Loads a gpt2 GGUF with F32, F16, BF16 or Q8_0 tensors; errors name the file and the key or
// tensor (a type we do not load, a truncated or overlapping tensor, a non-finite Q8_0 scale).
GPT2 gguf_load(const std::filesystem::path& path);
// The tensor infos as the file has them: name, type ("Q8_0"), dims innermost first, where the type
// field sits in the file (then the u64 data offset) and where the data starts.
struct GgufTensorInfo {
  std::string name, type;
  std::vector<uint64_t> ne;
  uint64_t type_at = 0, data_at = 0;
};
std::vector<GgufTensorInfo> gguf_tensors(const std::filesystem::path& path);
// The file's instruct.template, or "" when it has none (a GGUF from elsewhere).
std::string gguf_template(const std::filesystem::path& path);
bool gguf_path(const std::filesystem::path& path);  // a regular file named *.gguf

// The Ollama Modelfile for `gguf_file` (FROM ./NAME.gguf): a TEMPLATE that renders the training
// template around {{ .Prompt }} ({{ .System }} in place of Alpaca's preamble), stop at
// <|endoftext|>, temperature 0.
std::string gguf_modelfile(const std::string& gguf_file_name, const std::string& template_name);
// The Modelfile's TEMPLATE (Go template syntax) for one of our templates.
std::string ollama_template(const std::string& template_name);

}  // namespace instruct
