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
  cli_add_serve_options(*cmd, *o);
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
