// One (row, head) per task; the softmax and the weighted sum follow attention_forward's order.
#include "kernels/attention_cached.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace instruct {

void kv_store(float* kcache, float* vcache, const float* qkv, const int32_t* slot,
              const int32_t* pos, int N, const KVLayout& L) {
  const int64_t C = static_cast<int64_t>(L.n_head) * L.head_size;
#pragma omp parallel for collapse(2)
  for (int r = 0; r < N; r++)
    for (int h = 0; h < L.n_head; h++) {
      const int64_t at = slot[r] * L.slot_stride() + h * L.head_stride() +
                         static_cast<int64_t>(pos[r]) * L.head_size;
      const float* row = qkv + r * 3 * C;
      std::memcpy(kcache + at, row + C + h * L.head_size, sizeof(float) * L.head_size);
      std::memcpy(vcache + at, row + 2 * C + h * L.head_size, sizeof(float) * L.head_size);
    }
}

void attention_cached(float* out, const float* qkv, const float* kcache, const float* vcache,
                      const int32_t* slot, const int32_t* pos, int N, const KVLayout& L,
                      float* scratch) {
  const int HS = L.head_size;
  const int64_t C = static_cast<int64_t>(L.n_head) * HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
  for (int r = 0; r < N; r++)
    for (int h = 0; h < L.n_head; h++) {
      float* a = scratch + static_cast<int64_t>(omp_get_thread_num()) * L.max_len;
      const float* q = qkv + r * 3 * C + h * HS;
      const float* K = kcache + slot[r] * L.slot_stride() + h * L.head_stride();
      const float* V = vcache + slot[r] * L.slot_stride() + h * L.head_stride();
      const int n = pos[r] + 1;
      float maxv = -INFINITY;
      for (int t = 0; t < n; t++) {
        const float* k = K + static_cast<int64_t>(t) * HS;
        float dot = 0.0f;
        for (int i = 0; i < HS; i++) dot += q[i] * k[i];
        a[t] = dot * scale;
        maxv = std::max(maxv, a[t]);
      }
      float sum = 0.0f;
      for (int t = 0; t < n; t++) {
        a[t] = std::exp(a[t] - maxv);
        sum += a[t];
      }
      const float inv = 1.0f / sum;
      float* o = out + r * C + h * HS;
      for (int i = 0; i < HS; i++) o[i] = 0.0f;
      for (int t = 0; t < n; t++) {
        const float w = a[t] * inv;
        const float* v = V + static_cast<int64_t>(t) * HS;
        for (int i = 0; i < HS; i++) o[i] += w * v[i];
      }
    }
}

}  // namespace instruct
