// `instruct train`: fine-tune (or train from random init) with the reference's loop and AdamW.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace instruct {

void cli_add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd =
      app.add_subcommand("train", "Fine-tune GPT-2 on instruction data (full fine-tuning, AdamW)");
  cli_add_train_options(*cmd, *o);
  cmd->callback([o, cmd] {
    o->given = cli_given_flags(*cmd);
    const TrainReport r = train_run(*o, std::cout);
    if (r.interrupted) throw Interrupted(r.checkpoint.string());
  });
}

void cli_add_dpo(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  // The book's DPO recipe: beta 0.1, AdamW lr 5e-6 and weight decay 0.01, 1 epoch, batch 8.
  o->objective = "dpo";
  o->lr = 5e-6;
  o->weight_decay = 0.01;
  o->epochs = 1;
  o->out = "out/dpo";
  o->model.model = "out/train/model";
  CLI::App* cmd = app.add_subcommand("dpo",
                                     "Preference-tune an instruction model (DPO and cousins) on "
                                     "chosen/rejected pairs against a frozen reference");
  cli_add_train_options(*cmd, *o, "dpo");
  cmd->callback([o, cmd] {
    o->given = cli_given_flags(*cmd);
    const TrainReport r = train_run(*o, std::cout);
    if (r.interrupted) throw Interrupted(r.checkpoint.string());
  });
}

}  // namespace instruct
