// `instruct dedup`: near-duplicate entries of an instruction dataset (the reference's
// find-near-duplicates.py), reported or removed.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/dedup.hpp"

namespace instruct {

void cli_add_dedup(CLI::App& app) {
  auto o = std::make_shared<DedupOptions>();
  CLI::App* cmd = app.add_subcommand("dedup",
                                     "Near-duplicate instructions, inputs and outputs (TF-IDF over "
                                     "character 1-3-grams, cosine similarity)");
  dedup_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] { dedup_run(*o, std::cout, std::cerr); });
}

}  // namespace instruct
