// The book's PreferenceDataset and custom_collate_fn, without the padding.
#include "data/preference.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace instruct {

std::vector<Preference> preference_fields(const Dataset& d) {
  std::vector<Preference> out;
  out.reserve(d.entries.size());
  for (size_t i = 0; i < d.entries.size(); i++) {
    const auto& j = d.entries[i].source;
    Preference p;
    for (auto [name, dst] : {std::pair{"chosen", &p.chosen}, std::pair{"rejected", &p.rejected}}) {
      const auto it = j.find(name);
      if (it == j.end())
        fail(d.path.string(), " entry ", i, ": field \"", name,
             "\" is missing; preference data needs \"chosen\" and "
             "\"rejected\" answers (make them with `instruct prefs`)");
      if (!it->is_string())
        fail(d.path.string(), " entry ", i, ": field \"", name, "\" is ", it->type_name(),
             ", expected a string");
      *dst = it->get<std::string>();
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<int32_t> preference_equal_pairs(std::span<const Preference> prefs) {
  std::vector<int32_t> v;
  for (size_t i = 0; i < prefs.size(); i++)
    if (prefs[i].chosen == prefs[i].rejected) v.push_back(static_cast<int32_t>(i));
  return v;
}

std::vector<PrefExample> pref_examples_build(std::span<const Entry> entries,
                                             std::span<const Preference> prefs,
                                             const PromptTemplate& tmpl, Bpe& bpe,
                                             SpecialTokens special) {
  if (entries.size() != prefs.size())
    fail("internal: ", entries.size(), " entries for ", prefs.size(), " preferences");
  std::vector<PrefExample> out(entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    const std::string prompt = tmpl.prompt(entries[i]);
    const std::string head = prompt + std::string(tmpl.response_header());
    out[i].prompt = bpe_encode(bpe, prompt, special);
    out[i].chosen = bpe_encode(bpe, head + prefs[i].chosen, special);
    out[i].rejected = bpe_encode(bpe, head + prefs[i].rejected, special);
    out[i].entry = static_cast<int32_t>(i);
  }
  return out;
}

int64_t pref_common_length(std::span<const PrefExample* const> items,
                           const PrefCollateOptions& opt) {
  // The book pads chosen and rejected to one common length: max(len) + 1, then truncates.
  int64_t common = 0;
  for (const PrefExample* e : items)
    common = std::max({common, static_cast<int64_t>(e->chosen.size()) + 1,
                       static_cast<int64_t>(e->rejected.size()) + 1});
  return opt.max_length > 0 ? std::min<int64_t>(common, opt.max_length) : common;
}

PrefBatch pref_collate(std::span<const PrefExample* const> items, const PrefCollateOptions& opt) {
  PrefBatch b;
  b.B = static_cast<int32_t>(items.size());
  const int64_t common = pref_common_length(items, opt);
  b.padded_tokens = common * b.B;
  for (int side = 0; side < 2; side++)
    for (int32_t k = 0; k < b.B; k++) {
      const PrefExample& e = *items[k];
      const std::vector<int32_t>& seq = side == 0 ? e.chosen : e.rejected;
      const int32_t n =
          static_cast<int32_t>(std::min<int64_t>(static_cast<int64_t>(seq.size()), common));
      const int32_t first = opt.mask_prompt ? static_cast<int32_t>(e.prompt.size()) + 2
                                            : 0;  // mask[:len(prompt)+2] = False
      const int32_t seq_id = side * b.B + k;
      const int32_t base = static_cast<int32_t>(b.tokens.size());
      // compute_logprobs: the logits at t score label t+1 where mask[t+1] (a real token past the
      // prompt).
      for (int32_t t = 0; t + 1 < n; t++)
        if (t + 1 >= first)
          b.rows.push_back(base + t), b.labels.push_back(seq[t + 1]),
              b.seq_of_row.push_back(seq_id);
      b.tokens.insert(b.tokens.end(), seq.begin(), seq.begin() + n);
      b.lens.push_back(n);
    }
  for (const PrefExample* e : items) b.entries.push_back(e->entry);
  return b;
}

}  // namespace instruct
