// One (row, head) per task; the dot products, the softmax and the weighted sum follow
// attention_forward's order (the same simd reductions).
#include "kernels/attention_cached.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/gemm.hpp"

namespace instruct {

namespace {

inline void put(float* dst, const float* src, int n) {
  std::memcpy(dst, src, sizeof(float) * n);
}
inline void put(uint16_t* dst, const float* src, int n) {
  to_bf16(dst, src, n);
}
inline float get(float x) {
  return x;
}
inline float get(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

template <class T>
void kv_store(T* kcache, T* vcache, const float* qkv, const int32_t* slot, const int32_t* pos,
              int N, const KVLayout& L) {
  const int64_t C = static_cast<int64_t>(L.n_head) * L.head_size;
#pragma omp parallel for collapse(2)
  for (int r = 0; r < N; r++)
    for (int h = 0; h < L.n_head; h++) {
      const int64_t at = slot[r] * L.slot_stride() + h * L.head_stride() +
                         static_cast<int64_t>(pos[r]) * L.head_size;
      const float* row = qkv + r * 3 * C;
      put(kcache + at, row + C + h * L.head_size, L.head_size);
      put(vcache + at, row + 2 * C + h * L.head_size, L.head_size);
    }
}

template <class T>
void attention_cached(float* out, const float* qkv, const T* kcache, const T* vcache,
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
      const T* K = kcache + slot[r] * L.slot_stride() + h * L.head_stride();
      const T* V = vcache + slot[r] * L.slot_stride() + h * L.head_stride();
      const int n = pos[r] + 1;
      float maxv = -INFINITY;
      for (int t = 0; t < n; t++) {
        const T* k = K + static_cast<int64_t>(t) * HS;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < HS; i++) dot += q[i] * get(k[i]);
        a[t] = dot * scale;
        maxv = std::max(maxv, a[t]);
      }
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int t = 0; t < n; t++) {
        a[t] = expf(a[t] - maxv);
        sum += a[t];
      }
      const float inv = 1.0f / sum;
      float* o = out + r * C + h * HS;
      for (int i = 0; i < HS; i++) o[i] = 0.0f;
      for (int t = 0; t < n; t++) {
        const float w = a[t] * inv;
        const T* v = V + static_cast<int64_t>(t) * HS;
        for (int i = 0; i < HS; i++) o[i] += w * get(v[i]);
      }
    }
}

template void kv_store(float*, float*, const float*, const int32_t*, const int32_t*, int,
                       const KVLayout&);
template void kv_store(uint16_t*, uint16_t*, const float*, const int32_t*, const int32_t*, int,
                       const KVLayout&);
template void attention_cached(float*, const float*, const float*, const float*, const int32_t*,
                               const int32_t*, int, const KVLayout&, float*);
template void attention_cached(float*, const float*, const uint16_t*, const uint16_t*,
                               const int32_t*, const int32_t*, int, const KVLayout&, float*);

}  // namespace instruct
