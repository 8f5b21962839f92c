// Tokenizes full_text and prompt of every entry, as the reference's InstructionDataset does.
#include "data/examples.hpp"

namespace instruct {

std::vector<Example> examples_build(std::span<const Entry> entries, const PromptTemplate& tmpl,
                                    Bpe& bpe, SpecialTokens special) {
  std::vector<Example> out(entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    out[i].tokens = bpe_encode(bpe, tmpl.full_text(entries[i]), special);
    out[i].prompt_len = static_cast<int32_t>(bpe_encode(bpe, tmpl.prompt(entries[i]), special).size());
    out[i].entry = static_cast<int32_t>(i);
  }
  return out;
}

}  // namespace instruct
