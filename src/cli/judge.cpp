// `instruct judge`: score responses with Ollama or an OpenAI-compatible server.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/judge.hpp"
#include "pipeline/prefs.hpp"

namespace instruct {

namespace {

// The server flags `judge` and `prefs` share.
void add_server_options(CLI::App& cmd, JudgeOptions& o, int32_t& concurrency) {
  cmd.add_option("--url", o.url, "LLM server")->capture_default_str();
  cmd.add_option("--api", o.api, "ollama (/api/chat) or openai (/v1/chat/completions)")
      ->capture_default_str();
  cmd.add_option("--judge-model", o.model, "Model the server runs")->capture_default_str();
  cmd.add_option("--concurrency,-j", concurrency, "Requests in flight")->capture_default_str();
  cli_add_judge_options(cmd, o);
  cmd.add_option("--api-key-env", o.api_key_env,
                 "Environment variable holding the OpenAI API key (the key itself is never a flag)")
      ->capture_default_str();
}

}  // namespace

void cli_add_judge(CLI::App& app) {
  auto o = std::make_shared<JudgeRunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "judge", "Score model responses 0-100 with a judge LLM (Ollama or OpenAI-compatible)");
  cmd->add_option("--responses,-r", o->responses,
                  "Entries with model_response (from `instruct respond`)")
      ->capture_default_str();
  cmd->add_option(
      "--out,-o", o->out,
      "Output: the entries with score and judge_reply (default: RESPONSES-scored.json)");
  add_server_options(*cmd, o->judge, o->concurrency);
  cmd->add_option("--key", o->key, "Field holding the response to score")->capture_default_str();
  cmd->callback([o] { judge_run(*o, std::cout); });
}

void cli_add_prefs(CLI::App& app) {
  auto o = std::make_shared<PrefsOptions>();
  o->llm.model = "llama3.1:70b";  // the book's
  CLI::App* cmd = app.add_subcommand("prefs",
                                     "Make preference data (chosen/rejected) from instruction data "
                                     "with an LLM, as the book's notebook");
  cmd->add_option("--data", o->data,
                  "Instruction data (default: the bundled instruction-data.json)");
  cmd->add_option("--out,-o", o->out, "Output JSON (entries + chosen + rejected, indent 4)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the polite/impolite draw per entry")
      ->capture_default_str();
  cmd->add_option("--limit", o->limit, "Only the first N entries (0: all)")->capture_default_str();
  add_server_options(*cmd, o->llm, o->concurrency);
  cmd->callback([o] { prefs_run(*o, std::cout); });
}

}  // namespace instruct
