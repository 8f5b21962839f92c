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
  cmd->add_option("--data", o->data,
                  "Instruction data: JSON array or JSONL, or alpaca-52k (downloaded into the cache "
                  "once) (default: the "
                  "bundled instruction-data.json)");
  cmd->add_option("--threshold", o->threshold,
                  "Report pairs whose similarity is above this (0 to 1)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--json", o->json,
                "Print {\"instruction\": [[i, j, score], ...], \"input\": [...], \"output\": "
                "[...]} (i < j, file order)");
  cmd->add_option(
      "--remove", o->remove,
      "Write the data without the later entry of each input and output pair (the reference's "
      "--remove_duplicates) to this file");
  cmd->callback([o] { dedup_run(*o, std::cout, std::cerr); });
}

}  // namespace instruct
