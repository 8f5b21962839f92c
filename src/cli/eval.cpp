// `instruct eval`: multiple-choice benchmarks scored by log-likelihood (lm-evaluation-harness's
// semantics). `instruct perplexity`: a split's loss, as the reference's validation loss.
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

void cli_add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  o->infer.model.model.clear();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "A split's perplexity (default: val) as the reference's validation loss counts it: compare "
      "precisions (--precision q8_0) or models");
  cli_add_infer_options(*cmd, o->infer);
  cli_add_split_options(*cmd, o->data);
  perplexity_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] {
    model_default_to_newest(o->infer.model, std::cerr);
    perplexity_run(*o, std::cout, std::cerr);
  });
}

}  // namespace instruct
