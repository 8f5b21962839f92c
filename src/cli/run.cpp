// `instruct run`: prepare, train, respond and judge in one run directory.
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include "cli/commands.hpp"
#include "pipeline/run.hpp"

namespace instruct {

void cli_add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  o->train.out = "out/run";
  CLI::App* cmd = app.add_subcommand("run", "The whole loop: prepare, train, respond on the test split, judge, report");
  cli_add_model_options(*cmd, o->train.model);
  cli_add_data_options(*cmd, o->train.data);
  cmd->add_option("--epochs", o->train.epochs, "Passes over the train split")->capture_default_str();
  cmd->add_option("--lr", o->train.lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--max-steps", o->train.max_steps, "Stop training after N steps (0: no limit)")->capture_default_str();
  cmd->add_option("--eval-freq", o->train.eval_freq, "Evaluate every N steps (0: never)")->capture_default_str();
  cmd->add_option("--save-every", o->train.save_every, "Also checkpoint every N steps")->capture_default_str();
  cmd->add_option("--resume", o->train.resume, "Continue the training of this run directory");
  cmd->add_option("--out", o->train.out, "Run directory")->capture_default_str();
  cmd->add_option("--respond-batch-size", o->respond_batch, "Sequences decoded together")->capture_default_str();
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Tokens per response at most")->capture_default_str();
  cmd->add_option("--url", o->judge.judge.url, "Judge server")->capture_default_str();
  cmd->add_option("--api", o->judge.judge.api, "ollama or openai")->capture_default_str();
  cmd->add_option("--judge-model", o->judge.judge.model, "Judge model")->capture_default_str();
  cmd->add_option("--concurrency", o->judge.concurrency, "Judge requests in flight")->capture_default_str();
  cmd->add_option("--timeout", o->judge.judge.timeout, "Seconds per judge request")->capture_default_str();
  cmd->add_flag("--no-judge{false}", o->judge_enabled, "Skip judging");
  cmd->callback([o, cmd] {
    // Training flags given (a resume may change only some); respond and judge flags are free.
    static const std::set<std::string> kNotTraining = {"respond-batch-size", "max-new-tokens", "url", "api",
                                                      "judge-model", "concurrency", "timeout", "no-judge"};
    o->train.given.clear();
    for (const CLI::Option* opt : cmd->get_options())
      if (opt->count() > 0 && !opt->get_lnames().empty() && !kNotTraining.count(opt->get_lnames()[0]))
        o->train.given.push_back(opt->get_lnames()[0]);
    run_all(*o, std::cout);
  });
}

}  // namespace instruct
