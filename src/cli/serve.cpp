// `instruct serve`: Ollama and OpenAI APIs and a chat page for a model.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/serve.hpp"

namespace instruct {

void cli_add_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  o->infer.model.model.clear();  // the newest trained model in out/
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve a model over Ollama's and OpenAI's APIs, with a chat page at /; continuous batching");
  cli_add_infer_options(*cmd, o->infer);
  cmd->add_option("--name", o->name,
                  "The model's name in the API (default: the model directory's name)");
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "Port (Ollama's 11434 by default; 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--max-batch", o->max_batch,
                  "Requests decoded together; more wait for a free slot")
      ->capture_default_str();
  cmd->add_option("--max-prompt-tokens", o->max_prompt_tokens,
                  "Longest prompt accepted (0: the model's context)")
      ->capture_default_str();
  cmd->add_option("--http-threads", o->threads,
                  "HTTP threads; each open stream holds one (0: 4 per slot + 16)")
      ->capture_default_str();
  cmd->footer(
      "Requests without their own settings use --temperature, --top-k, --top-p, --seed and "
      "--max-new-tokens "
      "(temperature 0: greedy, equal to `instruct generate`).");
  cmd->callback([o] {
    model_default_to_newest(o->infer.model, std::cerr);
    serve_run(*o, std::cerr);
  });
}

}  // namespace instruct
