// GPT-2 inference with a KV cache: any mix of prompt chunks (prefill) and single tokens (decode)
// of different sequences in one forward, no padding. Logits for each chunk's last token (or its
// last few: scoring a continuation).
// Buffers grow to the largest call and are reused: no allocation per token.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.hpp"
#include "core/buffer.hpp"
#include "kernels/attention_cached.hpp"
#include "model/gpt2.hpp"

namespace instruct {

struct KVCache {
  int32_t slots = 0;
  KVLayout layout;
  bool bf16 = false;         // entries in bf16 (uint16_t words in the buffers), else fp32
  DeviceBuffer k, v;         // (n_layer, slots, n_head, max_len, head_size) entries
  std::vector<int32_t> len;  // tokens cached per slot
  int64_t entry_bytes() const { return bf16 ? 2 : 4; }
};

// Entries in `dtype`: fp32 (exact) or bf16 (half the memory; Precision::kv).
KVCache kv_cache_create(const GPT2Config& c, int32_t slots, int32_t max_len,
                        DType dtype = DType::kF32);
// Slot `to` holds a copy of slot `from`'s cached positions (a shared prompt, forked).
void kv_cache_copy(KVCache& kv, int32_t from, int32_t to);

// Tokens appended to one slot's sequence (positions len .. len+n-1).
struct SeqChunk {
  int32_t slot;
  const int32_t* tokens;
  int32_t n;
  int32_t logits = 1;  // logit rows for the chunk's last `logits` tokens (1..n)
};

struct InferScratch {
  DeviceBuffer buf;
  int64_t rows = 0, chunks = 0;  // capacity (chunks: logit rows)
  std::vector<int32_t> slot, pos, tok, last;
  float *x, *ln, *mean, *rstd, *qkv, *atty, *tmp, *fch, *fchg, *attn, *lastx, *logits;
};

// Runs the chunks through the model (and its adapter, when it has one), appends them to the cache,
// and returns logits (rows, V): each chunk's `logits` rows in turn, for its last tokens in order
// (one row per chunk by default; valid until the next call).
const float* gpt2_infer(ModelRef m, KVCache& kv, InferScratch& s, std::span<const SeqChunk> chunks);

}  // namespace instruct
