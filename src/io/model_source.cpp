// Model resolution: directory, cache, download, or random init; the model directory's recipe.
#include "io/model_source.hpp"

#include <cmath>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/download.hpp"
#include "io/gguf.hpp"
#include "io/options_json.hpp"
#include "io/safetensors.hpp"

#include <fstream>

namespace instruct {

namespace fs = std::filesystem;

fs::path model_newest_trained(const fs::path& root) {
  // RUN/model and RUN/dpo/model, as train, dpo and run write them (a model dir holds config.json
  // or an adapter).
  fs::path best;
  fs::file_time_type best_time{};
  std::error_code ec;
  auto consider = [&](const fs::path& m) {
    if (!fs::exists(m / "config.json", ec) && !fs::exists(m / "adapter_config.json", ec)) return;
    const auto t = fs::last_write_time(m, ec);
    if (!ec && (best.empty() || t > best_time)) best = m, best_time = t;
  };
  if (fs::is_directory(root, ec))
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory(ec)) consider(e.path() / "model"), consider(e.path() / "dpo" / "model");
  return best;
}

void model_default_to_newest(ModelOptions& o, std::ostream& log) {
  if (!o.model.empty() || !o.init.empty()) return;
  const fs::path m = model_newest_trained("out");
  if (m.empty())
    fail(
        "no --model given and no trained model in out/; train one with `instruct run` (it writes "
        "out/run/model), "
        "or give --model DIR or a name such as gpt2");
  o.model = m.string();
  log << "model     " << o.model << " (the newest trained model in out/; --model picks another)\n";
}

fs::path model_cache_dir(const ModelOptions& o) {
  return o.cache_dir.empty() ? cache_root() : o.cache_dir;
}

namespace {

// The HF id of --model when it is not a directory; fails when it is no model name either.
std::string model_hf_name(const ModelOptions& o) {
  const std::string hf = config_hf_name(o.model);
  if (hf.empty() && o.model.find('/') != std::string::npos && !fs::exists(o.model)) {
    const fs::path newest = model_newest_trained("out");
    fail("--model ", o.model, ": no such directory; ",
         newest.empty() ? std::string("train a model with `instruct run` (it writes out/run/model)")
                        : "the newest trained model is " + newest.string());
  }
  if (hf.empty())
    fail("--model ", o.model,
         " is neither a checkpoint directory nor a model name; use a directory with "
         "config.json + model.safetensors, or gpt2, gpt2-medium, gpt2-large, gpt2-xl");
  return hf;
}

// The directory a named or given model loads from (a name: its place in the cache).
fs::path model_dir(const ModelOptions& o) {
  if (fs::is_directory(o.model)) return o.model;
  return model_cache_dir(o) / model_hf_name(o);
}

// FNV-1a over a small file (config) whole and 64 KiB of a large one (weights) sampled at 64
// places: any other model differs, and a 6 GB file costs milliseconds, not a full read.
std::string files_fingerprint(const fs::path& small, const fs::path& large) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const char* p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  };
  const std::string cfg = file_read(small, "model config");
  mix(cfg.data(), cfg.size());
  std::ifstream f(large, std::ios::binary);
  if (!f) fail(large.string(), ": cannot open to identify the base model");
  const uint64_t size = fs::file_size(large);
  std::vector<char> buf(1024);
  for (int i = 0; i < 64; i++) {
    const uint64_t at = i == 0 ? 0 : size / 64 * i;
    f.seekg(static_cast<std::streamoff>(at));
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    mix(buf.data(), static_cast<size_t>(f.gcount()));
    f.clear();
  }
  mix(reinterpret_cast<const char*>(&size), sizeof size);
  char out[32];
  std::snprintf(out, sizeof out, "fnv1a:%016llx", static_cast<unsigned long long>(h));
  return out;
}

bool is_adapter_dir(const fs::path& p) {
  return fs::is_directory(p) && adapter_present(p) && !fs::exists(p / "model.safetensors");
}

nlohmann::json read_recipe(const fs::path& p) {
  try {
    return nlohmann::json::parse(file_read(p, "model recipe"));
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(),
         "); rewrite it or remove it to use the defaults");
  }
}

// The identity of the base an adapter directory records (instruct.json "base"), or "".
std::string recorded_base(const fs::path& dir) {
  const fs::path recipe = dir / "instruct.json";
  if (!fs::exists(recipe)) return "";
  const nlohmann::json j = read_recipe(recipe);
  const nlohmann::json* f = json_find(j, "base.fingerprint");
  return f && f->is_string() ? f->get<std::string>() : "";
}

// The base an adapter directory was trained on: instruct.json's training options when it has
// them (they know a random init), else adapter_config.json's base_model_name_or_path.
ModelOptions adapter_base_options(const fs::path& dir, const ModelOptions& given) {
  ModelOptions b;
  const fs::path recipe = dir / "instruct.json";
  if (fs::exists(recipe)) {
    const nlohmann::json j = read_recipe(recipe);
    if (j.contains("train")) {
      model_options_visit(OptionsReader{j["train"], recipe}, b);
      if (!given.cache_dir.empty()) b.cache_dir = given.cache_dir;
      return b;
    }
  }
  b.cache_dir = given.cache_dir;
  b.model = adapter_base(dir).name_or_path;
  if (b.model.empty())
    fail((dir / "adapter_config.json").string(),
         ": base_model_name_or_path is empty; give the base with --model and "
         "the adapter with --adapter");
  return b;
}

// Loads the adapter in `dir` (trained on `base`) for `m`: into *out to run beside it, or (merge, or
// no *out) folded into its weights.
void attach_adapter(GPT2& m, const fs::path& dir, const ModelOptions& base, bool merge,
                    LoraAdapter* out, std::ostream& log) {
  adapter_check_base(dir, base);
  LoraAdapter a = adapter_load(dir, m.cfg);
  const LoraConfig& l = a.cfg;
  merge = merge || !out;
  log << "adapter   " << dir.string() << " (LoRA rank " << l.rank << ", alpha " << l.alpha << ", "
      << lora_targets_text(l.targets)
      << (l.targets_module(kLoraQkv) ? l.split_qkv ? ", split q/k/v" : ", fused q/k/v" : "") << ", "
      << param_count(a.w.table) << " parameters" << (merge ? ", merged" : "") << ")\n";
  if (merge)
    gpt2_merge_lora(m, a);
  else
    *out = std::move(a);
}

}  // namespace

std::string model_random_size(const ModelOptions& o) {
  if (!o.config.empty()) return o.config;
  const std::string size = config_size_name(o.model);
  if (size.empty())
    fail("--init random needs a size: --model ", o.model,
         " is not a model name; give --config small, medium, "
         "large, xl or n_layer=2,n_head=2,n_embd=64");
  return size;
}

// --init and --config together or not at all: a size without random weights would be silently
// ignored (a named model downloaded instead).
void model_options_check(const ModelOptions& o) {
  if (!o.init.empty() && o.init != "random")
    fail("--init ", o.init, " is unknown; the only value is \"random\"");
  if (!o.config.empty() && o.init.empty())
    fail("--config ", o.config,
         " sets the size of random weights; add --init random (or drop --config to load --model)");
}

GPT2Config model_config(const ModelOptions& o) {
  model_options_check(o);
  if (o.init == "random") return config_preset(model_random_size(o));
  if (gguf_path(o.model)) return gguf_load(o.model).cfg;
  if (is_adapter_dir(o.model)) return model_config(adapter_base_options(o.model, o));
  if (fs::is_directory(o.model)) return checkpoint_config(o.model);
  return config_preset(model_hf_name(o));
}

void adapter_check_base(const fs::path& dir, const ModelOptions& base) {
  const std::string fingerprint = recorded_base(dir);
  if (fingerprint.empty()) return;  // a foreign adapter: nothing recorded
  const std::string have = model_identity(base);
  if (have != fingerprint)
    fail(dir.string(), ": this adapter was trained on another base model (", fingerprint,
         "), not on ",
         base.init == "random" ? "--init random --config " + model_random_size(base) : base.model,
         " (", have, "); give the model it was trained on");
}

std::string model_identity(const ModelOptions& o) {
  if (o.init == "random")
    return "random:" + model_random_size(o) + ":seed=" + std::to_string(o.init_seed) +
           (o.tie ? ":tied" : "");
  if (is_adapter_dir(o.model))  // an adapter on its base (a LoRA SFT model under DPO, say)
    return "adapter:" +
           files_fingerprint(fs::path(o.model) / "adapter_config.json",
                             fs::path(o.model) / "adapter_model.safetensors") +
           "+" + recorded_base(o.model);
  const fs::path dir = model_dir(o);
  return files_fingerprint(dir / "config.json", dir / "model.safetensors");
}

std::string model_name_or_path(const ModelOptions& o) {
  if (o.init == "random") return "";
  if (fs::is_directory(o.model)) return fs::absolute(o.model).lexically_normal().string();
  return config_hf_name(o.model);
}

GPT2 model_resolve(const ModelOptions& o, std::ostream& log, LoraAdapter* adapter) {
  model_options_check(o);
  if (o.init.empty() && is_adapter_dir(o.model)) {
    if (!o.adapter.empty())
      fail("--model ", o.model,
           " is an adapter directory already; give its base with --model and the adapter with "
           "--adapter, or only --model");
    const ModelOptions base = adapter_base_options(o.model, o);
    GPT2 m = model_resolve(base, log);  // an adapter on an adapter's base: the inner one merged
    attach_adapter(m, o.model, base, o.merge, adapter, log);
    return m;
  }
  GPT2 m = [&] {
    if (o.init.empty() && gguf_path(o.model)) {  // an exported GGUF (f32, f16, bf16)
      GPT2 r = gguf_load(o.model);
      log << "model     " << o.model << " (GGUF, " << r.cfg.n_layer << " layers, " << r.cfg.n_embd
          << " wide)\n";
      return r;
    }
    if (o.init == "random") {
      const std::string size = model_random_size(o);
      GPT2Config c = config_preset(size);
      c.tied = o.tie;
      GPT2 r = gpt2_create(c);
      gpt2_init_random(r, o.init_seed);
      log << "model     random init, " << size << " (" << c.n_layer << " layers, " << c.n_embd
          << " wide, " << c.n_head << " heads), seed " << o.init_seed << "\n";
      return r;
    }
    if (!o.init.empty()) fail("--init ", o.init, " is unknown; the only value is \"random\"");
    const fs::path dir = model_dir(o);
    if (!fs::is_directory(o.model) &&
        (!fs::exists(dir / "model.safetensors") || !fs::exists(dir / "config.json"))) {
      if (dist().size > 1)  // every rank would download into the same files
        fail(o.model, " is not in the cache yet (", dir.string(),
             "); download it first with one process, e.g. instruct generate --model ", o.model,
             " --prompt hi");
      download_hf_model(config_hf_name(o.model), dir, log);
    }
    GPT2 r = checkpoint_load(dir, o.tie);
    log << "model     " << dir.string() << " (" << r.cfg.n_layer << " layers, " << r.cfg.n_embd
        << " wide, " << param_count(r.w.table) / 1000000.0 << "M parameters, head "
        << (r.cfg.tied ? "tied" : "untied") << ")\n";
    return r;
  }();
  // NaN or infinite weights would generate garbage (or nothing) with exit 0: refuse them by name.
  for (const ParamSpec& s : m.w.table) {
    const float* p = m.w.params.data() + s.offset;
    for (int64_t i = 0; i < s.numel; i++)
      if (!std::isfinite(p[i]))
        fail(o.model, ": tensor ", s.name, " holds ", p[i], " at element ", i,
             "; the weights are damaged (a diverged training run?); use an earlier checkpoint");
  }
  if (!o.adapter.empty()) {
    if (!adapter_present(o.adapter))
      fail("--adapter ", o.adapter.string(),
           ": no adapter_config.json there; give a directory written by `instruct "
           "train --lora-rank` or by PEFT's save_pretrained");
    attach_adapter(m, o.adapter, o, o.merge, adapter, log);
  } else if (o.merge) {
    fail("--merge needs an adapter: --adapter DIR, or a --model directory that holds one");
  }
  return m;
}

ModelRecipe model_recipe(const fs::path& dir) {
  ModelRecipe r;
  if (gguf_path(dir)) {  // the template rides in the file; GPT-2's tokenizer is the bundled one
    const std::string t = gguf_template(dir);
    if (!t.empty()) r.template_name = t, r.from_file = true;
    return r;
  }
  const fs::path p = dir / "instruct.json";
  if (!fs::exists(p)) return r;
  const nlohmann::json j = read_recipe(p);
  try {
    r.template_name = j.at("template").get<std::string>();
    r.tokenizer = j.at("tokenizer").get<std::string>();
    if (!r.tokenizer.empty() && r.tokenizer.is_relative())
      r.tokenizer = dir / r.tokenizer;  // "." : this directory
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": \"template\" or \"tokenizer\" is missing or not a string (", e.what(), ")");
  }
  r.from_file = true;
  return r;
}

}  // namespace instruct
