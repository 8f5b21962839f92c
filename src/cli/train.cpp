// `instruct train`: fine-tune (or train from random init) with the reference's loop and AdamW.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace instruct {

void cli_add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Fine-tune GPT-2 on instruction data (full fine-tuning, AdamW)");
  cli_add_model_options(*cmd, o->model);
  cli_add_data_options(*cmd, o->data);
  auto* g = cmd;
  g->add_option("--epochs", o->epochs, "Passes over the train split")->capture_default_str();
  g->add_option("--lr", o->lr, "AdamW learning rate (the peak, with a schedule)")->capture_default_str();
  g->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  g->add_flag("--no-decay-norm-bias-emb{false}", o->decay_all,
              "No weight decay on biases, LayerNorm and embeddings (the reference decays all)");
  g->add_option("--max-steps", o->max_steps, "Stop after N optimizer steps (0: no limit)")->capture_default_str();
  g->add_option("--eval-freq", o->eval_freq, "Evaluate every N steps, including step 0 (0: never)")
      ->capture_default_str();
  g->add_option("--eval-iter", o->eval_iter, "Batches of train and val averaged per evaluation")
      ->capture_default_str();
  g->add_option("--sample-tokens", o->sample_tokens, "Greedy tokens sampled for val[0] after each epoch (0: none)")
      ->capture_default_str();
  g->add_option("--grad-accum", o->grad_accum,
                "Split each batch into N micro-batches and accumulate (same step, less memory)")
      ->capture_default_str();
  g->add_option("--max-grad-norm", o->max_grad_norm, "Clip gradients to this global L2 norm (0: off)")
      ->capture_default_str();
  g->add_option("--lr-schedule", o->lr_schedule, "constant or cosine (decay to --min-lr)")->capture_default_str();
  g->add_option("--warmup-steps", o->warmup_steps, "Linear LR warmup over N steps")->capture_default_str();
  g->add_option("--min-lr", o->min_lr, "Final LR of the cosine schedule")->capture_default_str();
  g->add_option("--out", o->out,
                "Run directory: metrics.jsonl, loss-plot.png, checkpoints/step-N/, model/ (the final model)")
      ->capture_default_str();
  g->add_option("--save-every", o->save_every, "Also checkpoint every N steps (0: only at the end and on Ctrl-C)")
      ->capture_default_str();
  g->add_option("--keep-checkpoints", o->keep_checkpoints, "Checkpoints kept in OUT/checkpoints")
      ->capture_default_str();
  g->add_option("--plot-format", o->plot_format, "Loss plot: png, pdf or png,pdf")->capture_default_str();
  g->add_option("--resume", o->resume,
                "Continue exactly from a checkpoint dir, or a run dir's latest checkpoint (its options are used)");
  g->add_flag("--no-memory-check{false}", o->check_memory, "Skip the up-front check that training fits in memory");
  cmd->callback([o, cmd] {
    o->given.clear();
    for (const CLI::Option* opt : cmd->get_options())
      if (opt->count() > 0 && !opt->get_lnames().empty()) o->given.push_back(opt->get_lnames()[0]);
    const TrainReport r = train_run(*o, std::cout);
    if (r.interrupted) throw Interrupted(r.checkpoint.string());
  });
}

}  // namespace instruct
