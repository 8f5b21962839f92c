// `instruct judge`: score responses with Ollama or an OpenAI-compatible server.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/judge.hpp"

namespace instruct {

void cli_add_judge(CLI::App& app) {
  auto o = std::make_shared<JudgeRunOptions>();
  CLI::App* cmd = app.add_subcommand("judge", "Score model responses 0-100 with a judge LLM (Ollama or OpenAI-compatible)");
  cmd->add_option("--responses,-r", o->responses, "Entries with model_response (from `instruct respond`)")
      ->capture_default_str();
  cmd->add_option("--out,-o", o->out, "Output: the entries with score and judge_reply (default: RESPONSES-scored.json)");
  cmd->add_option("--url", o->judge.url, "Judge server")->capture_default_str();
  cmd->add_option("--api", o->judge.api, "ollama (/api/chat) or openai (/v1/chat/completions)")->capture_default_str();
  cmd->add_option("--judge-model", o->judge.model, "Model the server runs")->capture_default_str();
  cmd->add_option("--concurrency,-j", o->concurrency, "Requests in flight")->capture_default_str();
  cmd->add_option("--retries", o->judge.retries, "Retries per entry on connection errors, timeouts, 5xx")
      ->capture_default_str();
  cmd->add_option("--timeout", o->judge.timeout, "Seconds per request")->capture_default_str();
  cmd->add_option("--api-key-env", o->judge.api_key_env,
                  "Environment variable holding the OpenAI API key (the key itself is never a flag)")
      ->capture_default_str();
  cmd->add_option("--key", o->key, "Field holding the response to score")->capture_default_str();
  cmd->callback([o] { judge_run(*o, std::cout); });
}

}  // namespace instruct
