// Causal attention for inference against a KV cache: each query row has its own sequence (cache
// slot) and position, so prompts being prefilled and sequences being decoded share one call.
#pragma once

#include <cstdint>

namespace instruct {

struct KVLayout {
  int32_t n_head = 0, head_size = 0, max_len = 0;
  // K and V of one layer: (slots, n_head, max_len, head_size), keys contiguous over positions.
  int64_t slot_stride() const { return static_cast<int64_t>(n_head) * max_len * head_size; }
  int64_t head_stride() const { return static_cast<int64_t>(max_len) * head_size; }
};

// The cache's entries are T: float (exact), or uint16_t holding bf16 (rounded to nearest even when
// stored, widened when read: half the memory, a smaller cache for many slots).
// Copies the k and v parts of qkv rows (N, 3C) into the cache at (slot[r], pos[r]).
template <class T>
void kv_store(T* kcache, T* vcache, const float* qkv, const int32_t* slot, const int32_t* pos,
              int N, const KVLayout& L);
// out (N,C): row r attends to positions 0..pos[r] of its slot, scaled by 1/sqrt(head_size).
// scratch: omp_get_max_threads() * max_len floats.
template <class T>
void attention_cached(float* out, const float* qkv, const T* kcache, const T* vcache,
                      const int32_t* slot, const int32_t* pos, int N, const KVLayout& L,
                      float* scratch);

}  // namespace instruct
