// `instruct merge`: a base model plus a LoRA adapter written as one plain HF GPT-2 model
// (W + alpha * A B in each adapted layer, Conv1D layouts transposed correctly; a head adapter on a
// tied model writes its own lm_head.weight and tie_word_embeddings false), with the adapter's
// template and tokenizer, so every tool that reads HF GPT-2 reads it.
#pragma once

#include <filesystem>
#include <ostream>

#include "io/model_source.hpp"

namespace instruct {

struct MergeOptions {
  ModelOptions model;  // --model BASE and --adapter DIR, or --model ADAPTER_DIR alone
  std::filesystem::path out;
};

// `merge`'s flags beside the model's: the adapter folded in and where the merged model goes.
template <class V, class... O>
void merge_options_visit(V&& v, O&... o) {
  v({.flag = "adapter", .help = "Adapter directory (default: --model is a LoRA run's model/)"},
    o.model.adapter...);
  v({.flag = "out", .help = "Directory for the merged model", .alias = "o", .required = true},
    o.out...);
}

void merge_run(const MergeOptions& o, std::ostream& log);

}  // namespace instruct
