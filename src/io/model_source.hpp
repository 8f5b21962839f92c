// Where a model comes from: a checkpoint directory, a named GPT-2 (downloaded into the cache once),
// or random weights; the options that say which, declared once; and the recipe a trained model
// directory carries (its template and tokenizer, from instruct.json). Training and inference both
// load models through here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>

#include "core/options.hpp"
#include "model/gpt2.hpp"

namespace instruct {

struct ModelOptions {
  std::string model = "gpt2-medium";  // a checkpoint directory or a model name
  std::string init;                   // "random": no checkpoint, random weights
  std::string config;  // size for --init random (empty: --model's; see model_random_size)
  uint64_t init_seed = 123;
  bool tie = false;                 // share wte with the output head
  std::filesystem::path cache_dir;  // empty: $XDG_CACHE_HOME/instruct or ~/.cache/instruct
  // inference only: a LoRA adapter on top of the model, applied as is or merged at load
  std::filesystem::path adapter;
  bool merge = false;
};

// Every model option, declared once (see data_options_visit).
template <class V, class... M>
void model_options_visit(V&& v, M&... o) {
  v({.flag = "model",
     .key = "model.model",
     .help = "Checkpoint directory (config.json + model.safetensors) or name: gpt2, gpt2-medium, "
             "gpt2-large, gpt2-xl "
             "(downloaded into the cache when missing)"},
    o.model...);
  v({.flag = "init",
     .key = "model.init",
     .help = "\"random\": start from random weights instead of a checkpoint"},
    o.init...);
  v({.flag = "config",
     .key = "model.config",
     .help = "Size for --init random: small, medium, large, xl, or n_layer=2,n_head=2,n_embd=64 "
             "(default: the "
             "size --model names)"},
    o.config...);
  v({.flag = "init-seed", .key = "model.init_seed", .help = "Seed of --init random"},
    o.init_seed...);
  v({.flag = "tie-embeddings",
     .key = "model.tie",
     .help = "Share wte with the output head (the reference unties them)"},
    o.tie...);
  v({.flag = "cache-dir",
     .help = "Model cache (default: $XDG_CACHE_HOME/instruct or ~/.cache/instruct)",
     .resumable = true},
    o.cache_dir...);
}

// The inference-only model options (generate, respond, chat; run's --merge).
template <class V, class... M>
void adapter_options_visit(V&& v, M&... o) {
  v({.flag = "adapter",
     .help = "A LoRA adapter directory (PEFT layout: adapter_config.json + "
             "adapter_model.safetensors) applied to "
             "--model; a --model directory that holds an adapter applies it by itself"},
    o.adapter...);
  v({.flag = "merge",
     .help = "Merge the adapter into the weights at load (W + alpha*A*B): plain-model speed"},
    o.merge...);
}

std::filesystem::path model_cache_dir(const ModelOptions& o);
// The newest trained model under root (root/RUN/model, root/RUN/dpo/model); empty if none.
std::filesystem::path model_newest_trained(const std::filesystem::path& root);
// Inference without --model (o.model empty, no --init): the newest trained model under out/, said
// in one line on log; none is a one-line error that names `instruct run`.
void model_default_to_newest(ModelOptions& o, std::ostream& log);
// --init is "random" or empty, and --config goes only with --init random: one-line errors.
void model_options_check(const ModelOptions& o);
// The model's config without loading weights (for the memory check).
GPT2Config model_config(const ModelOptions& o);
// The size --init random builds: --config, else the size --model names ("medium" by default).
std::string model_random_size(const ModelOptions& o);
// Loads or creates the model described by the options (downloading a named model when missing).
// A --model directory holding a LoRA adapter (a LoRA run's model/ or checkpoint) loads its base
// (from its instruct.json, else adapter_config.json's base_model_name_or_path) and applies it; so
// does --adapter. A base that is not the one the adapter was trained on is refused. The adapter
// goes to *adapter, to run beside the model (ModelRef), unless --merge asks to fold it in or
// `adapter` is null (then it is always folded in: export, merge, a base to train on).
GPT2 model_resolve(const ModelOptions& o, std::ostream& log, LoraAdapter* adapter = nullptr);
// What identifies the base weights: a fingerprint of a checkpoint directory's files, or the recipe
// of a random init. For an adapter's record of its base (instruct.json "base").
std::string model_identity(const ModelOptions& o);
// Fails when the adapter in `dir` records (instruct.json "base") a base other than `base`.
void adapter_check_base(const std::filesystem::path& dir, const ModelOptions& base);
// PEFT's base_model_name_or_path for the model: its name, or its directory as an absolute path.
std::string model_name_or_path(const ModelOptions& o);

// What generation needs from a model dir written by `instruct train`: the template and tokenizer.
// Directories without instruct.json (plain HF models) give the defaults (alpaca, bundled vocab).
struct ModelRecipe {
  std::string template_name = "alpaca";
  std::filesystem::path tokenizer;  // empty: bundled; relative in the file: to the model directory
  bool from_file = false;
};
ModelRecipe model_recipe(const std::filesystem::path& dir);

}  // namespace instruct
