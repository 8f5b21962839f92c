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
  CLI::App* cmd = app.add_subcommand("prepare",
                                     "Load, split, tokenize and batch instruction data; print "
                                     "statistics and the run's estimated time");
  cli_add_data_options(*cmd, run->data);
  prepare_options_visit(CliFlags{*cmd}, *opt);
  cli_add_run_shape_options(*cmd, *run);
  cmd->callback([opt, run] {
    opt->data = run->data;
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
