// The reference's custom_collate_fn: +1 EOS, pad to the batch max, shift by one, -100 on every pad
// but the first, optional instruction masking, truncation to allowed_max_length. No shuffling.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "data/examples.hpp"

namespace instruct {

constexpr int32_t kIgnoreIndex = -100;

struct CollateOptions {
  int32_t pad_id = 50256;         // <|endoftext|>: EOS and padding
  int32_t max_length = 1024;      // allowed_max_length; 0 keeps full length
  bool mask_instruction = false;  // exercise 7.2: no loss on the prompt
};

struct Batch {
  int32_t B = 0, T = 0;
  std::vector<int32_t> inputs, targets;  // (B,T) row-major
  std::vector<int32_t> entries;          // (B) Example::entry of each row

  // Targets that count in the loss (!= -100).
  int64_t counted() const;
};

Batch collate(std::span<const Example* const> items, const CollateOptions& opt);
// The padded length T of these items' batch: the longest item, capped by max_length.
int32_t collate_length(std::span<const Example* const> items, const CollateOptions& opt);

// Targets an example contributes to the loss (the same in any batch it is collated into).
int64_t collate_counted(const Example& ex, const CollateOptions& opt);

}  // namespace instruct
