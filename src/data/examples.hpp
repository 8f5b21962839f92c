// Tokenized training examples: each entry's full text as ids, plus the prompt length used by
// instruction masking. No padding or batching here (see collate.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "data/dataset.hpp"
#include "data/prompt_template.hpp"
#include "text/bpe.hpp"

namespace instruct {

struct Example {
  std::vector<int32_t> tokens;  // full_text(e), no EOS
  int32_t prompt_len = 0;       // len(tokens(prompt(e)))
  int32_t entry = 0;            // index of the entry within its split
  // A chat record's earlier assistant answers (with their response headers): token ranges
  // [begin, end) within the prompt, which count in the loss with instruction masking as the last
  // answer does.
  std::vector<std::pair<int32_t, int32_t>> answers;
};

std::vector<Example> examples_build(std::span<const Entry> entries, const PromptTemplate& tmpl,
                                    Bpe& bpe, SpecialTokens special = SpecialTokens::kAsText);

}  // namespace instruct
