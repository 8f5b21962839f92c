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
  CLI::App* cmd = app.add_subcommand(
      "run", "The whole loop: prepare, train, respond on the test split, judge, report");
  cli_add_train_options(*cmd, o->train);
  cmd->add_option("--respond-batch-size", o->respond_batch, "Sequences decoded together")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Tokens per response at most")
      ->capture_default_str();
  cmd->add_option("--limit", o->limit, "Respond to only the first N test entries (0: all)")
      ->capture_default_str();
  cmd->add_flag("--merge", o->merge,
                "With --lora-rank: respond with the adapter merged into the weights (faster)");
  cmd->add_option("--dpo-data", o->dpo_data,
                  "After SFT, preference-tune with DPO on this data (the book's recipe, into "
                  "OUT/dpo); both models "
                  "answer the test split and are judged; the report compares them");
  cmd->add_option("--url", o->judge.judge.url, "Judge server")->capture_default_str();
  cmd->add_option("--api", o->judge.judge.api, "ollama or openai")->capture_default_str();
  cmd->add_option("--judge-model", o->judge.judge.model, "Judge model")->capture_default_str();
  cmd->add_option("--concurrency", o->judge.concurrency, "Judge requests in flight")
      ->capture_default_str();
  cli_add_judge_options(*cmd, o->judge.judge);  // --retries, --timeout
  cmd->add_flag_callback(
      "--no-judge", [o] { o->judge_enabled = false; }, "Skip judging");
  cmd->callback([o, cmd] {
    // Training flags given (a resume may change only some); respond and judge flags are free.
    static const std::set<std::string> kNotTraining = {
        "respond-batch-size", "max-new-tokens", "limit",   "merge",   "dpo-data", "url", "api",
        "judge-model",        "concurrency",    "retries", "timeout", "no-judge"};
    o->train.given.clear();
    for (const std::string& f : cli_given_flags(*cmd))
      if (!kNotTraining.count(f)) o->train.given.push_back(f);
    run_all(*o, std::cout);
  });
}

}  // namespace instruct
