// Model resolution: directory, cache, download, or random init; the model directory's recipe.
#include "io/model_source.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/checkpoint.hpp"
#include "io/download.hpp"

namespace instruct {

namespace fs = std::filesystem;

fs::path model_cache_dir(const ModelOptions& o) {
  if (!o.cache_dir.empty()) return o.cache_dir;
  if (const char* x = std::getenv("INSTRUCT_CACHE"); x && *x) return x;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "instruct";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "instruct";
  return fs::path(".cache") / "instruct";
}

GPT2Config model_config(const ModelOptions& o) {
  if (o.init == "random") return config_preset(o.config);
  if (fs::is_directory(o.model)) return checkpoint_config(o.model);
  const std::string hf = config_hf_name(o.model);
  return config_preset(hf.empty() ? "medium" : o.model);  // model_resolve reports a bad name
}

GPT2 model_resolve(const ModelOptions& o, std::ostream& log) {
  if (o.init == "random") {
    GPT2Config c = config_preset(o.config);
    c.tied = o.tie;
    GPT2 m = gpt2_create(c);
    gpt2_init_random(m, o.init_seed);
    log << "model     random init, " << o.config << " (" << c.n_layer << " layers, " << c.n_embd
        << " wide, " << c.n_head << " heads), seed " << o.init_seed << "\n";
    return m;
  }
  if (!o.init.empty()) fail("--init ", o.init, " is unknown; the only value is \"random\"");
  fs::path dir = o.model;
  if (!fs::is_directory(dir)) {
    const std::string hf = config_hf_name(o.model);
    if (hf.empty())
      fail("--model ", o.model, " is neither a checkpoint directory nor a model name; use a directory with "
           "config.json + model.safetensors, or gpt2, gpt2-medium, gpt2-large, gpt2-xl");
    dir = model_cache_dir(o) / hf;
    if (!fs::exists(dir / "model.safetensors") || !fs::exists(dir / "config.json"))
      download_hf_model(hf, dir, log);
  }
  GPT2 m = checkpoint_load(dir, o.tie);
  log << "model     " << dir.string() << " (" << m.cfg.n_layer << " layers, " << m.cfg.n_embd << " wide, "
      << param_count(m.w.table) / 1000000.0 << "M parameters, head " << (m.cfg.tied ? "tied" : "untied") << ")\n";
  return m;
}

ModelRecipe model_recipe(const fs::path& dir) {
  ModelRecipe r;
  const fs::path p = dir / "instruct.json";
  if (!fs::exists(p)) return r;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(file_read(p, "model recipe"));
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(), "); rewrite it or remove it to use the defaults");
  }
  try {
    r.template_name = j.at("template").get<std::string>();
    r.tokenizer = j.at("tokenizer").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": \"template\" or \"tokenizer\" is missing or not a string (", e.what(), ")");
  }
  r.from_file = true;
  return r;
}

}  // namespace instruct
