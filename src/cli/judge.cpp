// `instruct judge`: score responses with Ollama or an OpenAI-compatible server.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/judge.hpp"
#include "pipeline/prefs.hpp"

namespace instruct {

void cli_add_judge(CLI::App& app) {
  auto o = std::make_shared<JudgeRunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "judge", "Score model responses 0-100 with a judge LLM (Ollama or OpenAI-compatible)");
  judge_run_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] { judge_run(*o, std::cout); });
}

void cli_add_prefs(CLI::App& app) {
  auto o = std::make_shared<PrefsOptions>();
  o->llm.model = "llama3.1:70b";  // the book's
  CLI::App* cmd = app.add_subcommand("prefs",
                                     "Make preference data (chosen/rejected) from instruction data "
                                     "with an LLM, as the book's notebook");
  prefs_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] { prefs_run(*o, std::cout); });
}

}  // namespace instruct
