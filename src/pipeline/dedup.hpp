// `instruct dedup`: the reference's near-duplicate finder (find-near-duplicates.py) over a
// dataset's instruction, input and output fields, reported as text or JSON, with the reference's
// removal
// (--remove: the later entry of each input and output pair goes, field after field).
#pragma once

#include <array>
#include <filesystem>
#include <ostream>
#include <vector>

#include "core/options.hpp"
#include "data/dedup.hpp"

namespace instruct {

struct DedupOptions {
  std::filesystem::path data;  // empty: the bundled instruction-data.json
  double threshold = 0.9;
  bool json = false;
  std::filesystem::path remove;  // write the data without the removed entries here
};

template <class V, class... O>
void dedup_options_visit(V&& v, O&... o) {
  v({.flag = "data",
     .help = "Instruction data: JSON array or JSONL, or alpaca-52k (downloaded into the cache "
             "once) (default: the bundled instruction-data.json)"},
    o.data...);
  v({.flag = "threshold",
     .help = "Report pairs whose similarity is above this (0 to 1)",
     .min = 0,
     .max = 1},
    o.threshold...);
  v({.flag = "json",
     .help = "Print {\"instruction\": [[i, j, score], ...], \"input\": [...], \"output\": "
             "[...]} (i < j, file order)"},
    o.json...);
  v({.flag = "remove",
     .help = "Write the data without the later entry of each input and output pair (the "
             "reference's --remove_duplicates) to this file"},
    o.remove...);
}

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
