// `instruct compare A.json B.json`: pairwise LLM judging, both orders, win rates.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/compare.hpp"

namespace instruct {

void cli_add_compare(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Compare two response files with a judge LLM (AlpacaEval-style: both orders, win rate, "
      "length-controlled win rate)");
  cmd->add_option("A", o->a, "The baseline's responses (from `instruct respond`)")->required();
  cmd->add_option("B", o->b, "The responses compared with A")->required();
  compare_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] { compare_run(*o, std::cout); });
}

}  // namespace instruct
