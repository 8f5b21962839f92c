// `instruct eval`: multiple-choice benchmarks scored by log-likelihood (lm-evaluation-harness's
// semantics).
#include <iostream>
#include <memory>

#include "cli/commands.hpp"

namespace instruct {

void cli_add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  o->infer.model.model.clear();  // the newest trained model in out/
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Score a model on multiple-choice benchmarks (hellaswag, mmlu, arc_easy, arc_challenge) by "
      "log-likelihood, as lm-evaluation-harness does");
  cli_add_model_options(*cmd, o->infer.model);
  cli_add_adapter_options(*cmd, o->infer.model);
  static constexpr std::string_view kInfer[] = {"tokenizer", "precision"};
  infer_options_visit(CliFlags{*cmd, nullptr, kInfer}, o->infer);
  eval_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] {
    model_default_to_newest(o->infer.model, std::cerr);
    eval_run(*o, std::cout, std::cerr);
  });
}

}  // namespace instruct
