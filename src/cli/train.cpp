// `instruct train`: fine-tune (or train from random init) with the reference's loop and AdamW.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"

namespace instruct {

void cli_add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Fine-tune GPT-2 on instruction data (full fine-tuning, AdamW)");
  cli_add_model_options(*cmd, o->model);
  cli_add_data_options(*cmd, o->data);
  cmd->add_option("--epochs", o->epochs, "Passes over the train split")->capture_default_str();
  cmd->add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_flag("--no-decay-norm-bias-emb{false}", o->decay_all,
                "No weight decay on biases, LayerNorm and embeddings (the reference decays all)");
  cmd->add_option("--max-steps", o->max_steps, "Stop after N optimizer steps (0: no limit)")->capture_default_str();
  cmd->add_option("--metrics", o->metrics, "Write one JSON line per step: step, epoch, loss, tokens, seconds");
  cmd->add_option("--out", o->out, "Save the final model here (HF format: config.json + model.safetensors)");
  cmd->callback([o] { train_run(*o, std::cout); });
}

}  // namespace instruct
