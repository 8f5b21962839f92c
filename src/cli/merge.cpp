// `instruct merge`: fold a LoRA adapter into its base and write a plain HF model; `instruct
// export`: the same and the tokenizer files, for transformers and friends.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/export.hpp"
#include "pipeline/merge.hpp"

namespace instruct {

void cli_add_merge(CLI::App& app) {
  auto o = std::make_shared<MergeOptions>();
  o->model.model.clear();  // the newest trained model in out/
  CLI::App* cmd =
      app.add_subcommand("merge", "Merge a LoRA adapter into its base: a plain HF GPT-2 model");
  cli_add_model_options(*cmd, o->model);
  merge_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] {
    model_default_to_newest(o->model, std::cout);
    merge_run(*o, std::cout);
  });
}

void cli_add_export(CLI::App& app) {
  auto o = std::make_shared<ExportOptions>();
  o->model.model.clear();
  CLI::App* cmd = app.add_subcommand("export",
                                     "Export a model (adapter merged): GGUF + Ollama Modelfile, or "
                                     "an HF GPT-2 directory with its tokenizer");
  cli_add_model_options(*cmd, o->model);
  export_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] {
    model_default_to_newest(o->model, std::cout);
    export_run(*o, std::cout);
  });
}

}  // namespace instruct
