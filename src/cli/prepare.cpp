// `instruct prepare`: load, split, tokenize and batch a dataset, and report on it (a dry run).
#include <iostream>
#include <memory>

#include "cli/commands.hpp"

namespace instruct {

void cli_add_prepare(CLI::App& app) {
  auto opt = std::make_shared<PrepareOptions>();
  auto split = std::make_shared<std::string>("train");
  CLI::App* cmd = app.add_subcommand(
      "prepare", "Load, split, tokenize and batch instruction data; print statistics");
  cli_add_data_options(*cmd, opt->data);
  cmd->add_option("--split", *split, "Split for --show and --export-batches: train, val or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option("--show", opt->show,
                  "Render N examples token by token: input, target, and whether it counts in the loss");
  cmd->add_option("--export-batches", opt->export_batches,
                  "Write the split's batches as JSON lines {\"inputs\": [[...]], \"targets\": [[...]]}");
  cmd->callback([opt, split] {
    opt->split = split_parse(*split);
    prepare_run(*opt, std::cout);
  });
}

}  // namespace instruct
