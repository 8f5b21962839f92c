// Load with the adapter merged, then write the model into a temp dir renamed into place.
#include "pipeline/merge.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"

namespace instruct {

namespace fs = std::filesystem;

void merge_run(const MergeOptions& o, std::ostream& log) {
  if (o.out.empty()) fail("--out is required: the directory to write the merged model into");
  const fs::path adapter = o.model.adapter.empty() ? fs::path(o.model.model) : o.model.adapter;
  if (!adapter_present(adapter))
    fail(o.model.adapter.empty() ? "--model " : "--adapter ", adapter.string(),
         ": no adapter_config.json there; give --model BASE --adapter DIR, or a LoRA run's model "
         "directory");
  if (fs::exists(o.out) && !fs::is_empty(o.out))
    fail("--out ", o.out.string(), " exists and is not empty; choose a new directory");
  ModelOptions m = o.model;
  m.merge = true;
  const GPT2 model = model_resolve(m, log);
  const ModelRecipe recipe =
      model_recipe(adapter);  // the template and tokenizer it was trained with

  const fs::path tmp = o.out.parent_path() / ("." + o.out.filename().string() + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  checkpoint_save(model, tmp);
  if (recipe.from_file) {
    AtomicFile f(tmp / "instruct.json");
    f.stream() << nlohmann::ordered_json{{"format", "instruct.cpp/1"},
                                         {"template", recipe.template_name},
                                         {"tokenizer", recipe.tokenizer.string()},
                                         {"merged_from",
                                          fs::absolute(adapter).lexically_normal().string()}}
                      .dump(2)
               << "\n";
    f.commit();
  }
  fs::remove(o.out, ec);  // an empty directory
  fs::rename(tmp, o.out, ec);
  if (ec) fail(o.out.string(), ": cannot move the merged model into place (", ec.message(), ")");
  log << "merged    " << o.out.string() << " (config.json, model.safetensors"
      << (recipe.from_file ? ", instruct.json" : "") << "; head "
      << (model.cfg.tied ? "tied" : "untied") << ")\n";
}

}  // namespace instruct
