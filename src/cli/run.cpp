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
  run_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o, cmd] {
    // Training flags given (a resume may change only some); respond and judge flags are free.
    std::set<std::string> not_training;
    run_options_visit([&](const OptSpec& s, const auto&) { not_training.insert(s.flag); }, *o);
    o->train.given.clear();
    for (const std::string& f : cli_given_flags(*cmd))
      if (!not_training.count(f)) o->train.given.push_back(f);
    run_all(*o, std::cout);
  });
}

}  // namespace instruct
