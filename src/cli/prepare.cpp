// `instruct prepare`: load, split, tokenize and batch a dataset, and report on it (a dry run);
// then the estimated wall time of training (and responding) with the given run flags.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace instruct {

void cli_add_prepare(CLI::App& app) {
  auto opt = std::make_shared<PrepareOptions>();
  auto run = std::make_shared<TrainOptions>();
  run->respond_slots = 8;  // `instruct run`'s defaults
  auto split = std::make_shared<std::string>("train");
  CLI::App* cmd = app.add_subcommand("prepare",
                                     "Load, split, tokenize and batch instruction data; print "
                                     "statistics and the run's estimated time");
  cli_add_data_options(*cmd, run->data);
  cmd->add_option("--split", *split, "Split for --show and --export-batches: train, val or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option(
      "--show", opt->show,
      "Render N examples token by token: input, target, and whether it counts in the loss");
  cmd->add_option(
      "--export-batches", opt->export_batches,
      "Write the split's batches as JSON lines {\"inputs\": [[...]], \"targets\": [[...]]}");
  cli_add_run_shape_options(*cmd, *run);
  cmd->add_option("--respond-batch-size", run->respond_slots,
                  "For the estimate: sequences decoded together (0: no respond stage)")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", run->respond_max_new_tokens,
                  "For the estimate: tokens per response at most")
      ->capture_default_str();
  cmd->callback([opt, run, split] {
    opt->data = run->data;
    opt->split = split_parse(*split);
    if (run->estimate)
      opt->then = [run](const PreparedData& d, std::ostream& out) {
        try {
          train_options_visit(OptChecker{}, *run);
          train_estimate(*run, d, model_config(run->model), 0, out);
        } catch (const Error& e) {
          out << "estimate  skipped: " << e.what() << "\n";
        }
      };
    prepare_run(*opt, std::cout);
  });
}

}  // namespace instruct
