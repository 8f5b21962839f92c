// Tokenizes full_text and prompt of every entry, as the reference's InstructionDataset does (and
// locates a chat record's earlier answers).
#include "data/examples.hpp"

namespace instruct {

std::vector<Example> examples_build(std::span<const Entry> entries, const PromptTemplate& tmpl,
                                    Bpe& bpe, SpecialTokens special) {
  std::vector<Example> out(entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    out[i].tokens = bpe_encode(bpe, tmpl.full_text(entries[i]), special);
    out[i].prompt_len =
        static_cast<int32_t>(bpe_encode(bpe, tmpl.prompt(entries[i]), special).size());
    out[i].entry = static_cast<int32_t>(i);
    // Earlier answers of a chat record: where their text starts and ends, in tokens, as the
    // prompt's length is counted (the tokens of the text before).
    if (entries[i].history.empty()) continue;
    const std::string text = tmpl.prompt(entries[i]);
    auto tokens_before = [&](size_t byte) {
      return static_cast<int32_t>(
          bpe_encode(bpe, std::string_view(text).substr(0, byte), special).size());
    };
    for (auto [b, e] : history_answers(tmpl, entries[i]))
      out[i].answers.push_back({tokens_before(b), tokens_before(e)});
  }
  return out;
}

}  // namespace instruct
