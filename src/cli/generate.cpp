// `instruct generate`, `instruct respond`, `instruct chat`: inference with the KV cache.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "pipeline/respond.hpp"

namespace instruct {

namespace fs = std::filesystem;

void cli_add_infer_options(CLI::App& cmd, InferOptions& o) {
  cli_add_model_options(cmd, o.model);
  cli_add_adapter_options(cmd, o.model);
  cli_add_generate_options(cmd, o.gen);
  // A callback, not `add_flag("--ignore-eos{-1}", o.gen.eos)`: CLI11 writes that flag's default
  // (0, the token "!") into the stop token when the flag is absent.
  cmd.add_flag_callback(
      "--ignore-eos", [&o] { o.gen.eos = -1; }, "Do not stop at <|endoftext|> (benchmarking)");
  cli_add_infer_only_options(cmd, o);
}

void cli_add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateRunOptions>();
  o->infer.model.model.clear();  // the newest trained model in out/
  CLI::App* cmd = app.add_subcommand("generate", "Generate a response (streamed) from a model");
  cli_add_infer_options(*cmd, o->infer);
  generate_run_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] {
    model_default_to_newest(o->infer.model, std::cerr);
    generate_run(*o, std::cout, std::cerr);
  });
}

void cli_add_respond(CLI::App& app) {
  auto o = std::make_shared<RespondOptions>();
  o->infer.model.model.clear();
  CLI::App* cmd = app.add_subcommand(
      "respond", "Answer every entry of a split (default: test) and write the responses");
  cli_add_infer_options(*cmd, o->infer);
  cli_add_split_options(*cmd, o->data);
  o->infer.gen.batch_size = 8;
  respond_options_visit(CliFlags{*cmd}, *o);
  // As train's --resume: what to continue. Alone, the --out file; with a FILE, that file (it is the
  // --out).
  auto resume = std::make_shared<std::string>();
  CLI::Option* resume_opt =
      cmd->add_option(
             "--resume", *resume,
             "Continue a response file (default: --out): keep its answers, answer the rest")
          ->expected(0, 1)
          ->type_name("[FILE]");
  cmd->callback([o, resume, resume_opt, cmd] {
    o->resume = resume_opt->count() > 0;
    if (!resume->empty()) {
      if (cmd->get_option("--out")->count() > 0 && fs::path(*resume) != o->out)
        fail("--resume ", *resume, " and --out ", o->out.string(),
             " differ; the file resumed is the one written");
      o->out = *resume;
    }
    model_default_to_newest(o->infer.model, std::cout);
    respond_run(*o, std::cout);
  });
}

void cli_add_chat(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  o->model.model.clear();
  CLI::App* cmd = app.add_subcommand(
      "chat", "Chat in the terminal: one instruction (and optional input) per turn");
  cli_add_infer_options(*cmd, *o);
  cmd->callback([o] {
    model_default_to_newest(o->model, std::cerr);
    chat_run(*o, std::cin, std::cout, ::isatty(0));
  });
}

}  // namespace instruct
