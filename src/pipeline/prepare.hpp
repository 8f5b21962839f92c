// The data side of every job: load + validate a dataset, split it, tokenize it with a template,
// and build the reference's loaders; plus `instruct prepare`, which reports on all of that.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "data/loader.hpp"
#include "data/options.hpp"
#include "data/prepared.hpp"
#include "text/bpe.hpp"

namespace instruct {

Bpe tokenizer_load(const std::filesystem::path& path);  // file dir, or empty for bundled
// Loads (a named dataset: downloads it first, see io/dataset_source), splits and tokenizes.
PreparedData data_prepare(const DataOptions& opt, std::ostream& log);

struct PrepareOptions {
  DataOptions data;
  std::string split = "train";  // for show and export_batches
  int32_t show = 0;
  std::filesystem::path export_batches;
  // After the report, with the prepared data (the run's time estimate); empty: nothing.
  std::function<void(const PreparedData&, std::ostream&)> then;
};

// `prepare`'s own flags (beside the data's and the run's shape, for the estimate).
template <class V, class... O>
void prepare_options_visit(V&& v, O&... o) {
  v({.flag = "split", .help = "Split for --show and --export-batches", .choices = "train|val|test"},
    o.split...);
  v({.flag = "show",
     .help = "Render N examples token by token: input, target, and whether it counts in the loss",
     .min = 0},
    o.show...);
  v({.flag = "export-batches",
     .help = "Write the split's batches as JSON lines {\"inputs\": [[...]], \"targets\": "
             "[[...]]}"},
    o.export_batches...);
}

struct PaddingCount {
  int64_t padding = 0, slots = 0;  // pad positions among the inputs, all input positions
  double share() const {
    return slots ? static_cast<double>(padding) / static_cast<double>(slots) : 0.0;
  }
};

struct SplitStats {
  size_t entries = 0, batches = 0, truncated = 0, untrainable = 0;
  size_t min_tokens = 0, max_tokens = 0;
  double median_tokens = 0;
  int64_t target_tokens = 0;  // targets that count in the loss, over all batches of an epoch
  PaddingCount padding;       // over all batches of an epoch
};

struct PrepareReport {
  SplitStats train, val, test;
};

// Prints the report (and the --show dry run) to out; writes --export-batches atomically.
PrepareReport prepare_run(const PrepareOptions& opt, std::ostream& out);

}  // namespace instruct
