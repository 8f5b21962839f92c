// After training: `instruct generate` (one prompt, streamed), `instruct respond` (the reference's
// test-set responses, batched, restartable) and `instruct chat` (a terminal loop). The model's
// template and tokenizer come from its instruct.json (written by `instruct train`).
#pragma once

#include <filesystem>
#include <istream>
#include <ostream>
#include <span>
#include <string>

#include "infer/generate.hpp"
#include "io/model_source.hpp"
#include "pipeline/prepare.hpp"

namespace instruct {

struct InferOptions {
  ModelOptions model;               // --model DIR or a name (downloaded), as for train
  std::string template_name;        // empty: the model's (instruct.json), else alpaca
  std::filesystem::path tokenizer;  // empty: the model's, else bundled
  GenerateOptions gen;
  bool stats = false;          // timings on stderr
  std::string dtype = "fp32";  // fp32 (the reference), bf16 or q8_0 (faster, slightly different)
  std::string head_dtype = "same";  // the LM head's: same as dtype, or fp32|bf16|q8_0
  std::string kv_dtype = "fp32";    // the KV cache's entries: fp32 (exact) or bf16
};
// The precision InferOptions ask for (--precision, --head-precision, --kv-precision).
Precision infer_precision(const InferOptions& o);

// The inference flags of generate, respond, chat and serve, declared once (beside the model,
// adapter and sampling lists): --precision is train's name, --dtype kept as an alias.
template <class V, class... T>
void infer_options_visit(V&& v, T&... o) {
  v({.flag = "template", .help = "Prompt template (default: the one the model was trained with)"},
    o.template_name...);
  v({.flag = "tokenizer",
     .help = "Tokenizer directory (default: the model's, else the bundled GPT-2 vocab)"},
    o.tokenizer...);
  v({.flag = "stats", .help = "Print prefill/decode timings to stderr"}, o.stats...);
  v({.flag = "precision",
     .help = "fp32 (the reference's numbers), bf16 (half the memory traffic) or q8_0 (GGUF's 8-bit "
             "blocks, quantized at load: a quarter of it; int8 dot products)",
     .alias = "dtype",
     .choices = "fp32|bf16|q8_0"},
    o.dtype...);
  v({.flag = "head-precision",
     .help = "The LM head's precision (same: --precision's); the tied head is the largest matrix "
             "of a small model",
     .alias = "head-dtype",
     .choices = "same|fp32|bf16|q8_0"},
    o.head_dtype...);
  v({.flag = "kv-precision",
     .help = "The KV cache's entries: fp32 (exact) or bf16 (half the cache's memory: more slots "
             "for serve)",
     .alias = "kv-dtype",
     .choices = "fp32|bf16"},
    o.kv_dtype...);
}

// The entries of one split ("train", "val", "test"), the first `limit` only when limit > 0.
std::span<const Entry> split_entries(const DatasetSplit& s, const std::string& split,
                                     int64_t limit);

// A model ready to generate: weights, tokenizer, template.
struct InferModel {
  GPT2 model;
  LoraAdapter adapter;  // an adapter run beside the model (not merged), else off
  Bpe bpe;
  const PromptTemplate* tmpl = nullptr;
  ModelRef ref() { return {model, &adapter}; }
};
InferModel infer_model_load(const InferOptions& o, std::ostream& log);
// One entry's answer as `respond` writes it (the template's prompt, generated, the response part).
std::string infer_answer(InferModel& im, const Entry& e, const GenerateOptions& gen);

struct GenerateRunOptions {
  InferOptions infer;
  std::string prompt;              // raw text (no template)
  std::string instruction, input;  // or an instruction formatted with the template
};
template <class V, class... O>
void generate_run_options_visit(V&& v, O&... o) {
  v({.flag = "prompt", .help = "Raw prompt text (no template)", .alias = "p"}, o.prompt...);
  v({.flag = "instruction",
     .help = "An instruction, formatted with the model's template",
     .alias = "i"},
    o.instruction...);
  v({.flag = "input", .help = "Optional input for --instruction"}, o.input...);
}
// Streams only the response to `out`.
GenerateStats generate_run(const GenerateRunOptions& o, std::ostream& out, std::ostream& log);

struct RespondOptions {
  InferOptions infer;
  DataOptions data;  // --data and the split fractions
  std::string split = "test";
  std::filesystem::path out = "instruction-data-with-response.json";
  bool resume = false;          // keep entries of an existing --out that already have a response
  int64_t limit = 0;            // only the first N entries of the split
  double estimate_seconds = 0;  // `run`: its estimate of this stage, for the first ETAs (0: none)
};
// `respond`'s flags beside the inference and split lists (--resume [FILE] is its own).
template <class V, class... O>
void respond_options_visit(V&& v, O&... o) {
  v({.flag = "split", .help = "The split answered", .choices = "train|val|test"}, o.split...);
  v({.flag = "out", .help = "Output JSON (entries + model_response, indent 4)", .alias = "o"},
    o.out...);
  // --respond-batch-size as `run` names it; --batch-size (training's batch in run) an alias.
  v({.flag = "respond-batch-size",
     .help = "Sequences decoded together",
     .min = 1,
     .max = 4096,
     .alias = "batch-size,b"},
    o.infer.gen.batch_size...);
  v({.flag = "limit", .help = "Only the first N entries of the split (0: all)", .min = 0},
    o.limit...);
}
struct RespondReport {
  size_t entries = 0, generated = 0, skipped = 0;
  GenerateStats stats;
};
RespondReport respond_run(const RespondOptions& o, std::ostream& log);

// Reads instructions (and an optional input) from `in`, streams answers to `out`, until EOF or
// /exit.
void chat_run(const InferOptions& o, std::istream& in, std::ostream& out, bool interactive);

}  // namespace instruct
