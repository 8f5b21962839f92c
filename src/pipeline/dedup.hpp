// `instruct dedup`: the reference's near-duplicate finder (find-near-duplicates.py) over a
// dataset's instruction, input and output fields, reported as text or JSON, with the reference's
// removal
// (--remove: the later entry of each input and output pair goes, field after field).
#pragma once

#include <array>
#include <filesystem>
#include <ostream>
#include <vector>

#include "data/dedup.hpp"

namespace instruct {

struct DedupOptions {
  std::filesystem::path data;  // empty: the bundled instruction-data.json
  double threshold = 0.9;
  bool json = false;
  std::filesystem::path remove;  // write the data without the removed entries here
};

struct DedupReport {
  // Pairs per field (instruction, input, output), file-order indices of the whole dataset.
  std::array<std::vector<DedupPair>, 3> pairs;
  std::vector<int32_t> removed;  // file-order indices dropped by --remove, ascending
  size_t entries = 0;
};

// The fields searched, in the reference's order (the keys of an Alpaca entry).
inline constexpr std::array<const char*, 3> kDedupFields = {"instruction", "input", "output"};

// Prints the report (text, or with o.json one JSON object) to out; progress and the removal's
// summary go to log. Writes o.remove atomically.
DedupReport dedup_run(const DedupOptions& o, std::ostream& out, std::ostream& log);

}  // namespace instruct
