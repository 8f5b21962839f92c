// Text generation from a GPT-2: batched KV-cache generation (prompts of different lengths decode
// together, finished ones leave and waiting ones take their slot), the reference's full-recompute
// generate (the oracle for the cache), and token selection (greedy, temperature, top-k, top-p).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "core/options.hpp"
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
std::vector<int32_t> generate_recompute(ModelRef m, const std::vector<int32_t>& prompt,
                                        int32_t max_new, int32_t eos, const SampleOptions& o = {});

struct GenerateStats {
  int64_t prompts = 0, prefill_tokens = 0, new_tokens = 0, forwards = 0;
  double prefill_seconds = 0,
         decode_seconds = 0;  // forwards with any prompt chunk count as prefill
};

struct GenerateOptions {
  int32_t max_new_tokens = 256;
  int32_t eos = 50256;  // stop token (not returned); -1: never stop early (--ignore-eos)
  int32_t batch_size = 1;
  SampleOptions sample;  // each prompt i samples with its own generator seeded seed + i
};

// on_token(i, token) as each token of prompt i is chosen (streaming); on_done(i, new tokens).
using TokenFn = std::function<void(size_t, int32_t)>;
using DoneFn = std::function<void(size_t, std::vector<int32_t>&)>;

// Continuous batching over one KV cache: sequences start in free slots at any time and decode
// together; each step is one forward (a new sequence's prompt as a prefill chunk, one token for
// each of the others) and picks every active sequence's next token. Used by generate_batch (a
// fixed list of prompts) and by the server (requests arriving and leaving while it runs).
class BatchDecoder {
 public:
  // max_len: cache length per slot (<= n_ctx); a sequence that outgrows it slides its window by
  // recomputing its last n_ctx tokens, as the reference's idx[:, -context_size:] does.
  // prefill_rows: prompt tokens one step runs at most (llama.cpp's n_ubatch): a longer prompt, or
  // many arriving at once, prefill over several steps (chunks appended to the cache), so a step's
  // activations stay small (32 prompts of 900 tokens in one step took 1.6 GB of scratch for
  // gpt2-medium) and decoding sequences keep stepping between the chunks.
  BatchDecoder(ModelRef m, int32_t slots, int32_t max_len, int32_t prefill_rows = 512);
  int32_t slots() const { return static_cast<int32_t>(seq_.size()); }
  int32_t active() const;
  bool is_active(int32_t slot) const { return seq_[slot].active; }
  int32_t free_slot() const;  // -1 when every slot is busy
  // Starts a sequence (a non-empty prompt; longer than the context: its last n_ctx tokens).
  void start(int32_t slot, std::vector<int32_t> prompt, const SampleOptions& s);
  void stop(int32_t slot);  // frees the slot at once
  struct Pick {
    int32_t slot, token;
    bool prefilled;  // this step ran the sequence's prompt
  };
  // One forward over every active slot; appends each pick to its sequence. A sequence whose prompt
  // is still being prefilled in chunks has no pick yet: a step may return none while active() > 0.
  const std::vector<Pick>& step();
  const GenerateStats& stats() const { return st_; }
  const std::vector<int32_t>& tokens(int32_t slot) const { return seq_[slot].tokens; }

 private:
  struct Seq {
    std::vector<int32_t> tokens;  // prompt + generated (the reference's idx)
    SampleOptions sample;
    std::mt19937_64 rng;
    bool active = false, need_prefill = false;
    int32_t prefill_from = 0, prefill_n = 0, prefilled = 0;  // a chunked prefill in progress
  };
  int32_t prefill_rows_;
  ModelRef m_;
  KVCache kv_;
  InferScratch scratch_;
  std::vector<Seq> seq_;
  std::vector<SeqChunk> chunks_;
  std::vector<Pick> picks_;
  std::vector<int32_t> rows_;  // picks_[i]'s logit row (the index of its chunk)
  std::vector<std::pair<float, int32_t>> pick_scratch_;
  GenerateStats st_;
};

// The generation options, declared once: the flags of generate, respond, chat and serve (where
// they are the defaults of requests that set none), and their valid ranges.
template <class V, class... O>
void generate_options_visit(V&& v, O&... o) {
  v({.flag = "max-new-tokens", .help = "Tokens to generate at most", .min = 0, .alias = "n"},
    o.max_new_tokens...);
  v({.flag = "temperature", .help = "0: greedy (the reference); > 0: sample", .min = 0, .max = 100},
    o.sample.temperature...);
  v({.flag = "top-k", .help = "Sample among the k most likely tokens (0: all)", .min = 0},
    o.sample.top_k...);
  v({.flag = "top-p",
     .help = "Nucleus sampling: smallest set with this probability mass",
     .max = 1,
     .positive = true},
    o.sample.top_p...);
  v({.flag = "seed", .help = "Seed for sampling"}, o.sample.seed...);
}
// Fails (one line naming the flag and its range) on a value outside it; batch_size too.
void generate_options_check(const GenerateOptions& o);

// Generates for every prompt with a KV cache, batch_size sequences at a time. Prompts longer than
// the context keep their last n_ctx tokens; past the context the window slides by recomputing, as
// the reference's idx[:, -context_size:] does.
GenerateStats generate_batch(ModelRef m, const std::vector<std::vector<int32_t>>& prompts,
                             const GenerateOptions& o, const TokenFn& on_token,
                             const DoneFn& on_done);

}  // namespace instruct
