// The data side of every job: load + validate a dataset, split it, tokenize it with a template,
// and build the reference's loaders; plus `instruct prepare`, which reports on all of that.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "data/loader.hpp"
#include "text/bpe.hpp"

namespace instruct {

struct DataOptions {
  std::filesystem::path data;       // empty: the bundled instruction-data.json
  std::filesystem::path tokenizer;  // empty: the bundled GPT-2 vocab
  std::string template_name = "alpaca";
  bool mask_instruction = false;
  int32_t max_length = 1024;
  int32_t batch_size = 8;
  uint64_t seed = 123;
  bool shuffle = true;
  double train_frac = 0.85;
  double test_frac = 0.10;
  bool allow_special = false;  // map "<|endoftext|>" in the data to its id
};

// Every data option, declared once: visit(v, o...) calls v(spec, o.field...) for each field, over one
// DataOptions or several in step (a resume merges the command line's into the checkpoint's).
template <class V, class... D>
void data_options_visit(V&& v, D&... o) {
  v({.flag = "data", .key = "data.data",
     .help = "Instruction data: JSON array or JSONL of {instruction, input, output} (default: the bundled "
             "instruction-data.json)"},
    o.data...);
  v({.flag = "tokenizer", .key = "data.tokenizer",
     .help = "Directory with vocab.json + merges.txt or encoder.json + vocab.bpe (default: the bundled GPT-2 vocab)"},
    o.tokenizer...);
  v({.flag = "template", .key = "data.template", .help = "Prompt template: alpaca or phi3"}, o.template_name...);
  v({.flag = "mask-instruction", .key = "data.mask_instruction", .help = "No loss on the prompt tokens (exercise 7.2)"},
    o.mask_instruction...);
  v({.flag = "max-length", .key = "data.max_length",
     .help = "allowed_max_length: truncate batches to N tokens (0: no limit)", .min = 0},
    o.max_length...);
  v({.flag = "batch-size", .key = "data.batch_size", .help = "Batch size", .min = 1}, o.batch_size...);
  v({.flag = "seed", .key = "data.seed", .help = "Seed of the train shuffle (as torch.manual_seed)"}, o.seed...);
  v({.flag = "no-shuffle", .key = "data.shuffle", .help = "Keep the train split in file order", .negated = true},
    o.shuffle...);
  v({.flag = "train-frac", .key = "data.train_frac", .help = "Fraction of entries in the train split", .min = 0,
     .max = 1},
    o.train_frac...);
  v({.flag = "test-frac", .key = "data.test_frac", .help = "Fraction of entries in the test split (val gets the rest)",
     .min = 0, .max = 1},
    o.test_frac...);
  v({.flag = "allow-special", .key = "data.allow_special",
     .help = "Map <|endoftext|> written in the data to its id (default: encode it as text)"},
    o.allow_special...);
}

enum class SplitName { kTrain, kVal, kTest };
const char* split_name(SplitName s);
SplitName split_parse(const std::string& s);

struct PreparedData {
  Dataset dataset;
  Bpe bpe;
  const PromptTemplate* tmpl = nullptr;
  DatasetSplit split;
  std::vector<Example> train, val, test;

  const std::vector<Example>& examples(SplitName s) const;
  std::span<const Entry> entries(SplitName s) const;
};

Bpe tokenizer_load(const std::filesystem::path& path);  // file dir, or empty for bundled
PreparedData data_prepare(const DataOptions& opt);
// The reference's loader for a split: train shuffled + drop_last, val/test in order.
LoaderOptions loader_options(const DataOptions& opt, SplitName s, int32_t pad_id);

struct PrepareOptions {
  DataOptions data;
  SplitName split = SplitName::kTrain;
  int32_t show = 0;
  std::filesystem::path export_batches;
};

struct SplitStats {
  size_t entries = 0, batches = 0, truncated = 0, untrainable = 0;
  size_t min_tokens = 0, max_tokens = 0;
  double median_tokens = 0;
  int64_t target_tokens = 0;  // targets that count in the loss, over all batches of an epoch
};

struct PrepareReport {
  SplitStats train, val, test;
};

// Prints the report (and the --show dry run) to out; writes --export-batches atomically.
PrepareReport prepare_run(const PrepareOptions& opt, std::ostream& out);

}  // namespace instruct
