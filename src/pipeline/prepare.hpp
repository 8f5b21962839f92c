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
  SplitName split = SplitName::kTrain;
  int32_t show = 0;
  std::filesystem::path export_batches;
  // After the report, with the prepared data (the run's time estimate); empty: nothing.
  std::function<void(const PreparedData&, std::ostream&)> then;
};

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
