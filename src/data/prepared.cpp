// Split names, the examples of a split, and the reference's loader options per split.
#include "data/prepared.hpp"

#include "core/error.hpp"

namespace instruct {

const char* split_name(SplitName s) {
  switch (s) {
    case SplitName::kTrain:
      return "train";
    case SplitName::kVal:
      return "val";
    case SplitName::kTest:
      return "test";
  }
  return "?";
}

SplitName split_parse(const std::string& s) {
  if (s == "train") return SplitName::kTrain;
  if (s == "val") return SplitName::kVal;
  if (s == "test") return SplitName::kTest;
  fail("unknown split \"", s, "\"; choose train, val or test");
}

const std::vector<Example>& PreparedData::examples(SplitName s) const {
  return s == SplitName::kTrain ? train : s == SplitName::kVal ? val : test;
}

std::span<const Entry> PreparedData::entries(SplitName s) const {
  return s == SplitName::kTrain ? split.train : s == SplitName::kVal ? split.val : split.test;
}

LoaderOptions loader_options(const DataOptions& opt, SplitName s, int32_t pad_id) {
  LoaderOptions lo;
  lo.batch_size = opt.batch_size;
  lo.shuffle = s == SplitName::kTrain && opt.shuffle;
  lo.drop_last = s == SplitName::kTrain;
  lo.skip_untrainable = s == SplitName::kTrain;
  lo.bucket = s == SplitName::kTrain && opt.batching == "bucket" ? opt.bucket_size : 0;
  lo.collate.pad_id = pad_id;
  lo.collate.max_length = opt.max_length;
  lo.collate.mask_instruction = opt.mask_instruction;
  return lo;
}

}  // namespace instruct
