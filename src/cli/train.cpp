// `instruct train`: fine-tune (or train from random init) with the reference's loop and AdamW.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace instruct {

void cli_add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Fine-tune GPT-2 on instruction data (full fine-tuning, AdamW)");
  cli_add_train_options(*cmd, *o);
  cmd->callback([o, cmd] {
    o->given = cli_given_flags(*cmd);
    const TrainReport r = train_run(*o, std::cout);
    if (r.interrupted) throw Interrupted(r.checkpoint.string());
  });
}

}  // namespace instruct
