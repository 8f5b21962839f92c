// custom_collate_fn, step for step (see REFERENCE.md, "Collate").
#include "data/collate.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace instruct {

int64_t Batch::counted() const {
  return std::count_if(targets.begin(), targets.end(), [](int32_t t) { return t != kIgnoreIndex; });
}

namespace {

// batch_max_length = max(len(item) + 1), and the inputs' length T it gives: L - 1, capped.
size_t batch_max_length(std::span<const Example* const> items) {
  size_t L = 0;
  for (const Example* ex : items) L = std::max(L, ex->tokens.size() + 1);
  return L;
}
size_t input_length(size_t L, const CollateOptions& opt) {
  return opt.max_length > 0 ? std::min(L - 1, static_cast<size_t>(opt.max_length)) : L - 1;
}

}  // namespace

int32_t collate_length(std::span<const Example* const> items, const CollateOptions& opt) {
  return static_cast<int32_t>(input_length(batch_max_length(items), opt));
}

Batch collate(std::span<const Example* const> items, const CollateOptions& opt) {
  if (items.empty()) fail("internal: collate of an empty batch");
  Batch b;
  b.B = static_cast<int32_t>(items.size());
  const size_t L = batch_max_length(items),
               T = input_length(L, opt);  // targets are cut after the pads are marked
  b.T = static_cast<int32_t>(T);
  b.inputs.resize(b.B * T);
  b.targets.resize(b.B * T);
  std::vector<int32_t> padded(L);
  for (size_t r = 0; r < items.size(); r++) {
    const Example& ex = *items[r];
    std::copy(ex.tokens.begin(), ex.tokens.end(), padded.begin());
    std::fill(padded.begin() + static_cast<std::ptrdiff_t>(ex.tokens.size()), padded.end(),
              opt.pad_id);
    int32_t* in = &b.inputs[r * T];
    int32_t* tg = &b.targets[r * T];
    // targets = padded[1:]; every pad id but the first becomes -100 (applied before truncation).
    bool first = true;
    std::vector<int32_t> full_targets(padded.begin() + 1, padded.end());
    for (int32_t& t : full_targets) {
      if (t != opt.pad_id) continue;
      if (!first) t = kIgnoreIndex;
      first = false;
    }
    if (opt.mask_instruction) {  // target i predicts token i+1: kept for the answers' tokens only
      const size_t n = std::min<size_t>(std::max(ex.prompt_len - 1, 0), full_targets.size());
      for (size_t i = 0; i < n; i++) {
        const auto next = static_cast<int32_t>(i + 1);
        const bool answer = std::any_of(ex.answers.begin(), ex.answers.end(), [&](const auto& a) {
          return next >= a.first && next < a.second;
        });
        if (!answer) full_targets[i] = kIgnoreIndex;
      }
    }
    std::copy(padded.begin(), padded.begin() + static_cast<std::ptrdiff_t>(T), in);
    std::copy(full_targets.begin(), full_targets.begin() + static_cast<std::ptrdiff_t>(T), tg);
    b.entries.push_back(ex.entry);
  }
  return b;
}

int64_t collate_counted(const Example& ex, const CollateOptions& opt) {
  const Example* one[] = {&ex};
  return collate(one, opt).counted();
}

}  // namespace instruct
