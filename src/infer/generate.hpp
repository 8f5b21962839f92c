// Text generation from a GPT-2: the reference's generate_text_simple / generate (full recompute
// per token, the oracle for the KV cache) and token selection (greedy, temperature, top-k, top-p).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "model/gpt2.hpp"

namespace instruct {

struct SampleOptions {
  double temperature = 0;  // 0: greedy (argmax, first maximum on ties, as torch.argmax)
  int32_t top_k = 0;       // 0: off
  double top_p = 1.0;      // 1: off
  uint64_t seed = 123;
};

// Picks the next token from one row of logits (V). `scratch` avoids per-token allocation.
int32_t sample_token(const float* logits, int32_t V, const SampleOptions& o, std::mt19937_64& rng,
                     std::vector<std::pair<float, int32_t>>& scratch);

// Greedy/sampled generation by recomputing the whole (cropped) context for every new token, as the
// reference does. Stops after max_new tokens or at `eos` (when eos >= 0; the eos token is not
// returned). Returns only the new tokens.
std::vector<int32_t> generate_recompute(GPT2& m, const std::vector<int32_t>& prompt, int32_t max_new,
                                        int32_t eos, const SampleOptions& o = {});

}  // namespace instruct
