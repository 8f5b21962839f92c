// The data options every job shares (which file, tokenizer, template, masking, lengths, batches,
// shuffle, split), declared once with their flags, saved keys and ranges (core/options).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/options.hpp"

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
  bool allow_special = false;        // map "<|endoftext|>" in the data to its id
  std::string batching = "shuffle";  // shuffle (the reference) | bucket (length-sorted chunks)
  int32_t bucket_size = 100;         // batches per length-sorted chunk (--batching bucket)
};

// Every data option, declared once: visit(v, o...) calls v(spec, o.field...) for each field, over
// one DataOptions or several in step (a resume merges the command line's into the checkpoint's).
template <class V, class... D>
void data_options_visit(V&& v, D&... o) {
  v({.flag = "data",
     .key = "data.data",
     .help = "Instruction data: JSON array or JSONL of {instruction, input, output}, or alpaca-52k "
             "(Stanford "
             "Alpaca's 52,002 entries, downloaded into the cache once) (default: the bundled "
             "instruction-data.json)"},
    o.data...);
  v({.flag = "tokenizer",
     .key = "data.tokenizer",
     .help = "Directory with vocab.json + merges.txt or encoder.json + vocab.bpe (default: the "
             "bundled GPT-2 vocab)"},
    o.tokenizer...);
  v({.flag = "template", .key = "data.template", .help = "Prompt template: alpaca or phi3"},
    o.template_name...);
  v({.flag = "mask-instruction",
     .key = "data.mask_instruction",
     .help = "No loss on the prompt tokens (exercise 7.2)"},
    o.mask_instruction...);
  v({.flag = "max-length",
     .key = "data.max_length",
     .help = "allowed_max_length: truncate batches to N tokens (0: no limit)",
     .min = 0},
    o.max_length...);
  v({.flag = "batch-size", .key = "data.batch_size", .help = "Batch size", .min = 1},
    o.batch_size...);
  v({.flag = "seed",
     .key = "data.seed",
     .help = "Seed of the train shuffle (as torch.manual_seed)"},
    o.seed...);
  v({.flag = "no-shuffle",
     .key = "data.shuffle",
     .help = "Keep the train split in file order",
     .negated = true},
    o.shuffle...);
  v({.flag = "train-frac",
     .key = "data.train_frac",
     .help = "Fraction of entries in the train split",
     .min = 0,
     .max = 1},
    o.train_frac...);
  v({.flag = "test-frac",
     .key = "data.test_frac",
     .help = "Fraction of entries in the test split (val gets the rest)",
     .min = 0,
     .max = 1},
    o.test_frac...);
  v({.flag = "allow-special",
     .key = "data.allow_special",
     .help = "Map <|endoftext|> written in the data to its id (default: encode it as text)"},
    o.allow_special...);
  v({.flag = "batching",
     .key = "data.batching",
     .help =
         "shuffle: the reference's shuffled batches; bucket: the shuffled order cut into chunks of "
         "--bucket-size batches, each sorted by length into batches, then the batches shuffled "
         "(less padding)"},
    o.batching...);
  v({.flag = "bucket-size",
     .key = "data.bucket_size",
     .help = "Batches per length-sorted chunk for --batching bucket",
     .min = 1},
    o.bucket_size...);
}

}  // namespace instruct
