// Preference data (the book's DPO bonus): instruction entries with a `chosen` and a `rejected`
// answer, encoded as the book's PreferenceDataset does and collated as its custom_collate_fn:
// prompt = format_input(e); chosen = prompt + "\n\n### Response:\n" + e["chosen"] (rejected
// likewise), no <|endoftext|>; a sequence's scored positions are its real tokens past the first
// len(prompt) + 2, truncated to allowed_max_length. Sequences are packed without padding: the
// book's padding is masked out and, attention being causal, cannot change a scored logit.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/prompt_template.hpp"
#include "text/bpe.hpp"

namespace instruct {

struct Preference {
  std::string chosen, rejected;
};

// The chosen/rejected answers of every entry; a missing or non-string field is an error naming
// the file, the entry and the field.
std::vector<Preference> preference_fields(const Dataset& d);
// Indices (within `prefs`) of the pairs whose chosen and rejected are the same text.
std::vector<int32_t> preference_equal_pairs(std::span<const Preference> prefs);

struct PrefExample {
  std::vector<int32_t> prompt, chosen, rejected;  // token ids
  int32_t entry = 0;                              // index within its split
};
std::vector<PrefExample> pref_examples_build(std::span<const Entry> entries,
                                             std::span<const Preference> prefs,
                                             const PromptTemplate& tmpl, Bpe& bpe,
                                             SpecialTokens special = SpecialTokens::kAsText);

// A batch of B pairs as packed sequences: chosen 0..B-1, then rejected 0..B-1. Row r of the
// forward (a packed token index) is scored with label labels[r] for sequence seq_of_row[r].
struct PrefBatch {
  int32_t B = 0;
  std::vector<int32_t> tokens, lens;
  std::vector<int32_t> rows, labels, seq_of_row;
  std::vector<int32_t> entries;  // (B) PrefExample::entry of each pair
  int64_t padded_tokens = 0;     // the book's batch["chosen"].numel(): B x the common padded length
};
struct PrefCollateOptions {
  int32_t max_length = 1024;  // allowed_max_length; 0 keeps full length
  bool mask_prompt = true;    // mask_prompt_tokens
};
PrefBatch pref_collate(std::span<const PrefExample* const> items, const PrefCollateOptions& opt);
// The length every sequence of these items is padded (or truncated) to: max(len) + 1, capped.
int64_t pref_common_length(std::span<const PrefExample* const> items,
                           const PrefCollateOptions& opt);

}  // namespace instruct
