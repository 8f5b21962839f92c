// `instruct merge`: fold a LoRA adapter into its base and write a plain HF model.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/merge.hpp"

namespace instruct {

void cli_add_merge(CLI::App& app) {
  auto o = std::make_shared<MergeOptions>();
  o->model.model = "out/train/model";
  CLI::App* cmd = app.add_subcommand("merge", "Merge a LoRA adapter into its base: a plain HF GPT-2 model");
  cli_add_model_options(*cmd, o->model);
  cmd->add_option("--adapter", o->model.adapter, "Adapter directory (default: --model is a LoRA run's model/)");
  cmd->add_option("--out,-o", o->out, "Directory for the merged model")->required();
  cmd->callback([o] { merge_run(*o, std::cout); });
}

}  // namespace instruct
