// Everything is written into a temp directory renamed into place: a failure leaves no partial
// model.
#include "pipeline/export.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "pipeline/prepare.hpp"

namespace instruct {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  AtomicFile f(p);
  f.stream() << text;
  f.commit();
}

// The tokenizer files HF's GPT2Tokenizer reads, from the tokenizer the model was trained with.
void write_tokenizer(const fs::path& dir, const Bpe& bpe, int n_ctx) {
  ojson vocab = ojson::object();
  for (int32_t id = 0; id < bpe.size(); id++) vocab[bpe_token_text(bpe, id)] = id;
  write_text(dir / "vocab.json", vocab.dump() + "\n");
  std::string merges = "#version: 0.2\n";
  for (const std::string& line : bpe_merges_text(bpe)) merges += line + "\n";
  write_text(dir / "merges.txt", merges);
  const std::string eot = bpe.eot_text;
  write_text(dir / "tokenizer_config.json", ojson{{"tokenizer_class", "GPT2Tokenizer"},
                                                  {"add_bos_token", false},
                                                  {"add_prefix_space", false},
                                                  {"bos_token", eot},
                                                  {"eos_token", eot},
                                                  {"unk_token", eot},
                                                  {"errors", "replace"},
                                                  {"model_max_length", n_ctx},
                                                  {"clean_up_tokenization_spaces", false}}
                                                    .dump(2) +
                                                "\n");
  write_text(dir / "special_tokens_map.json",
             ojson{{"bos_token", eot}, {"eos_token", eot}, {"unk_token", eot}}.dump(2) + "\n");
  write_text(
      dir / "generation_config.json",
      ojson{{"bos_token_id", bpe.eot}, {"eos_token_id", bpe.eot}, {"do_sample", false}}.dump(2) +
          "\n");
}

}  // namespace

void export_run(const ExportOptions& o, std::ostream& log) {
  if (o.out.empty()) fail("--out is required: where to write the model");
  const bool named_gguf = o.out.extension() == ".gguf";
  const std::string format = o.format.empty() ? (named_gguf ? "gguf" : "hf") : o.format;
  if (format != "hf" && format != "gguf") fail("--format ", format, " is unknown; use gguf or hf");
  export_options_visit(OptChecker{}, o);
  const bool gguf = format == "gguf";
  if (gguf && !named_gguf) fail("--out ", o.out.string(), ": a GGUF file is named *.gguf");
  if (!gguf && named_gguf)
    fail("--out ", o.out.string(),
         " names a GGUF file but --format is hf (a directory); drop --format hf, or give a "
         "directory name");
  if (gguf ? fs::exists(o.out)
           : fs::exists(o.out) && !(fs::is_directory(o.out) && fs::is_empty(o.out)))
    fail("--out ", o.out.string(), " exists", gguf ? "" : " and is not empty",
         "; choose a new name");
  // The folder first, and proof that it takes a file, before minutes of loading the model.
  const fs::path parent = o.out.parent_path().empty() ? fs::path(".") : o.out.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec)
    fail("--out ", o.out.string(), ": cannot create the folder ", parent.string(), " (",
         ec.message(), ")");
  {
    AtomicFile probe(parent / ".instruct-export-probe");  // fails with the path and the reason
  }
  ModelOptions mo = o.model;
  // With an adapter (given, or in the --model directory) the exported weights are W + alpha A B; a
  // plain model exports as it is.
  mo.merge = !mo.adapter.empty() || (mo.init.empty() && adapter_present(mo.model));
  const GPT2 model = model_resolve(mo, log);
  // The template and tokenizer the model was trained with (an adapter directory knows them too).
  const fs::path recipe_dir = !o.model.adapter.empty() ? o.model.adapter : fs::path(o.model.model);
  const ModelRecipe recipe = o.model.init.empty() && fs::is_directory(recipe_dir)
                                 ? model_recipe(recipe_dir)
                                 : ModelRecipe{};
  const Bpe bpe = tokenizer_load(recipe.tokenizer);
  if (bpe.size() > model.cfg.vocab)
    fail("the tokenizer has ", bpe.size(), " tokens but the model only ", model.cfg.vocab,
         "; the model does not match its recorded tokenizer (instruct.json)");

  if (gguf) {
    GgufWriteOptions g;
    g.name = fs::path(o.model.model).filename().string();
    g.template_name = recipe.template_name;
    g.type = o.type;
    gguf_write(o.out, model, bpe, g);
    fs::path modelfile = o.out;
    modelfile.replace_extension(".Modelfile");
    write_text(modelfile, gguf_modelfile(o.out.filename().string(), recipe.template_name));
    log << "export    " << o.out.string() << " (GGUF v3, gpt2, " << o.type << ") and "
        << modelfile.string() << " (ollama create NAME -f " << modelfile.filename().string()
        << ")\n";
    return;
  }
  const fs::path tmp = o.out.parent_path() / ("." + o.out.filename().string() + ".tmp");
  fs::remove_all(tmp, ec);
  checkpoint_save(model, tmp);
  write_tokenizer(tmp, bpe, model.cfg.n_ctx);
  // instruct's recipe: the template; the tokenizer is the one in this directory.
  write_text(
      tmp / "instruct.json",
      ojson{{"format", "instruct.cpp/1"}, {"template", recipe.template_name}, {"tokenizer", "."}}
              .dump(2) +
          "\n");
  fs::remove(o.out, ec);  // an empty directory
  fs::rename(tmp, o.out, ec);
  if (ec) fail(o.out.string(), ": cannot move the exported model into place (", ec.message(), ")");
  log << "export    " << o.out.string()
      << " (HF GPT2LMHeadModel: model.safetensors, config.json, generation_config.json; "
         "GPT2Tokenizer: vocab.json, "
         "merges.txt, tokenizer_config.json; head "
      << (model.cfg.tied ? "tied" : "untied") << ")\n";
}

}  // namespace instruct
