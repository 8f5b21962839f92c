// A dataset made ready for a job: its entries split into train, val and test, the tokenizer, the
// prompt template, and each split's tokenized examples; and the reference's loader per split.
// Built by pipeline/prepare (which loads, checks and reports); read by training and evaluation.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "data/loader.hpp"
#include "data/options.hpp"
#include "text/bpe.hpp"

namespace instruct {

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

// The reference's loader for a split: train shuffled + drop_last, val/test in order.
LoaderOptions loader_options(const DataOptions& opt, SplitName s, int32_t pad_id);

}  // namespace instruct
