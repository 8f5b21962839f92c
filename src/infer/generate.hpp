// Text generation from a GPT-2: batched KV-cache generation (prompts of different lengths decode
// together, finished ones leave and waiting ones take their slot), the reference's full-recompute
// generate (the oracle for the cache), and token selection (greedy, temperature, top-k, top-p).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "model/gpt2.hpp"
#include "model/gpt2_infer.hpp"

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

struct GenerateOptions {
  int32_t max_new_tokens = 256;
  int32_t eos = 50256;  // stop token (not returned); -1: never stop early (--ignore-eos)
  int32_t batch_size = 1;
  SampleOptions sample;  // each prompt i samples with its own generator seeded seed + i
};

struct GenerateStats {
  int64_t prompts = 0, prefill_tokens = 0, new_tokens = 0, forwards = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // forwards with any prompt chunk count as prefill
};

// on_token(i, token) as each token of prompt i is chosen (streaming); on_done(i, new tokens).
using TokenFn = std::function<void(size_t, int32_t)>;
using DoneFn = std::function<void(size_t, std::vector<int32_t>&)>;

// Generates for every prompt with a KV cache, batch_size sequences at a time. Prompts longer than
// the context keep their last n_ctx tokens; past the context the window slides by recomputing, as
// the reference's idx[:, -context_size:] does.
GenerateStats generate_batch(GPT2& m, const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& o,
                             const TokenFn& on_token, const DoneFn& on_done);

}  // namespace instruct
