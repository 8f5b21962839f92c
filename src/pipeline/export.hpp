// `instruct export`: a model (any adapter folded in) for the tools people already use. `--format
// gguf` writes X.gguf (io/gguf: llama.cpp's gpt2 layout and tokenizer; --type f32|f16|bf16) and
// X.Modelfile beside it for `ollama create`. `--format hf` writes a directory transformers loads
// as GPT2LMHeadModel + GPT2Tokenizer as is:
// model.safetensors, config.json, generation_config.json, vocab.json, merges.txt,
// tokenizer_config.json, special_tokens_map.json, plus instruct.json (the template) so that
// instruct's own commands use it with the right prompt.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "io/model_source.hpp"

namespace instruct {

struct ExportOptions {
  ModelOptions model;        // --model DIR (a LoRA run's model/ brings its base), --adapter DIR
  std::string format;        // gguf | hf; empty: gguf for an --out named *.gguf, else hf
  std::string type = "f32";  // gguf: f32 | f16 | bf16
  std::filesystem::path out;
};

// `export`'s flags beside the model's.
template <class V, class... O>
void export_options_visit(V&& v, O&... o) {
  v({.flag = "adapter", .help = "Adapter directory to fold in (default: --model's, if it is one)"},
    o.model.adapter...);
  v({.flag = "format",
     .help = "gguf (llama.cpp, Ollama; X.Modelfile beside it) or hf (transformers); default: "
             "gguf for an --out named *.gguf, else hf"},
    o.format...);
  v({.flag = "type",
     .help = "GGUF matrices (1-D tensors stay f32; q8_0: llama.cpp's 8-bit blocks)",
     .choices = "f32|f16|bf16|q8_0"},
    o.type...);
  v({.flag = "out",
     .help = "Output: X.gguf, or a directory for hf",
     .alias = "o",
     .required = true},
    o.out...);
}

void export_run(const ExportOptions& o, std::ostream& log);

}  // namespace instruct
