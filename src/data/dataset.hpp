// Instruction datasets: load a JSON array or JSONL of {instruction, input, output} entries,
// validate every entry, and split them as the reference does. No tokenization here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace instruct {

// One exchange before the last of a chat record: the user's message and the assistant's answer.
struct Turn {
  std::string user, assistant;
};

// An Alpaca record, or a chat record ({"messages": [{"role", "content"}]}, or ShareGPT's
// {"conversations": [{"from", "value"}]}) mapped onto it: the last user message is the instruction,
// the last assistant message the output, the exchanges before them the history.
struct Entry {
  std::string instruction, input, output;
  std::string system;         // a chat record's system message ("": the template's own preamble)
  std::vector<Turn> history;  // a chat record's earlier exchanges, in order
  nlohmann::ordered_json
      source;  // the entry as read, unknown fields included (written back by respond)
};

struct Dataset {
  std::filesystem::path path;
  std::vector<Entry> entries;
};

// Throws Error naming the file, the entry index (and line for JSONL) and the field.
Dataset dataset_load(const std::filesystem::path& path);

// Validates one parsed entry; `where` prefixes the message ("data.json entry 41").
Entry dataset_entry(const nlohmann::json& j, const std::string& where);

// Sizes of the reference split: train = int(train_frac*n), test = int(test_frac*n), val = rest.
struct SplitSizes {
  size_t train = 0, test = 0, val = 0;
};
SplitSizes split_sizes(size_t n, double train_frac = 0.85, double test_frac = 0.10);

// Views of the three parts, in file order: train, then test, then val.
struct DatasetSplit {
  std::span<const Entry> train, val, test;
};
DatasetSplit dataset_split(const Dataset& d, double train_frac = 0.85, double test_frac = 0.10);

}  // namespace instruct
