// Causal attention for training, one (sequence, head) per task, register-blocked: the scores of a
// query row 16 keys at a time against the keys transposed into a [HS, T] scratch (no horizontal sum
// per pair), and every weighted sum over rows (the output, dq, dk, dv) accumulated in registers
// across the head's channels, each row read once per pair and written once. GPT-2's heads are 64
// wide: that width is a compile-time constant (the accumulators stay in registers); others run the
// same code with the width at run time.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "kernels/layers.hpp"

extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));

namespace instruct {

namespace {

constexpr int kKeys = 16;  // keys per block of scores

template <typename F>
F exp_of(F x) {
  if constexpr (std::is_same_v<F, float>)
    return expf(x);
  else
    return std::exp(x);
}

int padded(int T) {
  return (T + kKeys - 1) / kKeys * kKeys;
}

// x (T rows of HS at row stride ld) transposed into xt [HS, Tp], the padding zero.
template <typename F>
void transpose_head(F* xt, const F* x, int64_t ld, int T, int HS) {
  const int Tp = padded(T);
  for (int i = 0; i < HS; i++) {
    F* row = xt + static_cast<int64_t>(i) * Tp;
    for (int t = 0; t < T; t++) row[t] = x[t * ld + i];
    for (int t = T; t < Tp; t++) row[t] = F(0);
  }
}

// out[0..n) = x . xt[:, 0..n): one row against n transposed rows, 16 at a time (n rounded up to a
// block: out has room for it).
template <typename F, int kHS>
void row_scores(F* out, const F* x, const F* xt, int n, int Tp, int hs) {
  const int HS = kHS ? kHS : hs;
  for (int b0 = 0; b0 < n; b0 += kKeys) {
    F acc[kKeys] = {};
    for (int i = 0; i < HS; i++) {
      const F xi = x[i];
      const F* k = xt + static_cast<int64_t>(i) * Tp + b0;
#pragma omp simd
      for (int j = 0; j < kKeys; j++) acc[j] += xi * k[j];
    }
    for (int j = 0; j < kKeys; j++) out[b0 + j] = acc[j];
  }
}

template <typename F, int kHS>
void forward_head(F* out, F* att, const F* seq, F* kt, F* srow, int T, int C, int h, int hs) {
  const int HS = kHS ? kHS : hs, Tp = padded(T);
  const int64_t C3 = 3 * static_cast<int64_t>(C);
  const F scale = F(1) / std::sqrt(static_cast<F>(HS));
  transpose_head(kt, seq + C + h * HS, C3, T, HS);
  for (int t = 0; t < T; t++) {
    const int n = t + 1;  // causal: keys 0..t
    row_scores<F, kHS>(srow, seq + t * C3 + h * HS, kt, n, Tp, HS);
    F maxv = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) srow[t2] *= scale, maxv = std::max(maxv, srow[t2]);
    F sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int t2 = 0; t2 < n; t2++) {
      srow[t2] = exp_of(srow[t2] - maxv);
      sum += srow[t2];
    }
    const F inv = F(1) / sum;
    F* a = att + static_cast<int64_t>(t) * T;
    for (int t2 = 0; t2 < n; t2++) a[t2] = srow[t2] * inv;
    for (int t2 = n; t2 < T; t2++) a[t2] = F(0);
    F acc[kHS ? kHS : 1024] = {};  // HS <= 1024 (checked by the caller)
    for (int t2 = 0; t2 < n; t2++) {
      const F w = a[t2];
      const F* v = seq + t2 * C3 + 2 * C + h * HS;
#pragma omp simd
      for (int i = 0; i < HS; i++) acc[i] += w * v[i];
    }
    F* o = out + static_cast<int64_t>(t) * C + h * HS;
    for (int i = 0; i < HS; i++) o[i] = acc[i];
  }
}

// dS (T rows of Tp) = the scores' gradient, dq written; then dk, dv a key row at a time.
template <typename F, int kHS>
void backward_head(F* dseq, const F* dout, const F* seq, const F* att, F* vt, F* ds, int T, int C,
                   int h, int hs) {
  const int HS = kHS ? kHS : hs, Tp = padded(T);
  const int64_t C3 = 3 * static_cast<int64_t>(C);
  const F scale = F(1) / std::sqrt(static_cast<F>(HS));
  transpose_head(vt, seq + 2 * C + h * HS, C3, T, HS);
  for (int t = 0; t < T; t++) {
    const int n = t + 1;
    const F* a = att + static_cast<int64_t>(t) * T;
    F* d = ds + static_cast<int64_t>(t) * Tp;
    row_scores<F, kHS>(d, dout + static_cast<int64_t>(t) * C + h * HS, vt, n, Tp, HS);  // V dy
    F s = 0;
#pragma omp simd reduction(+ : s)
    for (int t2 = 0; t2 < n; t2++) s += a[t2] * d[t2];
#pragma omp simd
    for (int t2 = 0; t2 < n; t2++) d[t2] = a[t2] * (d[t2] - s) * scale;
    F acc[kHS ? kHS : 1024] = {};
    for (int t2 = 0; t2 < n; t2++) {
      const F p = d[t2];
      const F* k = seq + t2 * C3 + C + h * HS;
#pragma omp simd
      for (int i = 0; i < HS; i++) acc[i] += p * k[i];
    }
    F* dq = dseq + t * C3 + h * HS;
    for (int i = 0; i < HS; i++) dq[i] += acc[i];
  }
  for (int t2 = 0; t2 < T; t2++) {
    F dk[kHS ? kHS : 1024] = {}, dv[kHS ? kHS : 1024] = {};
    for (int t = t2; t < T; t++) {
      const F p = ds[static_cast<int64_t>(t) * Tp + t2], w = att[static_cast<int64_t>(t) * T + t2];
      const F* q = seq + t * C3 + h * HS;
      const F* dy = dout + static_cast<int64_t>(t) * C + h * HS;
#pragma omp simd
      for (int i = 0; i < HS; i++) dk[i] += p * q[i], dv[i] += w * dy[i];
    }
    F* k = dseq + t2 * C3 + C + h * HS;
    F* v = dseq + t2 * C3 + 2 * C + h * HS;
    for (int i = 0; i < HS; i++) k[i] += dk[i], v[i] += dv[i];
  }
}

void check_head(int C, int NH) {
  if (NH <= 0 || C % NH != 0 || C / NH > 1024)
    fail("attention heads ", NH <= 0 ? 0 : C / NH, " wide (n_embd ", C, ", n_head ", NH,
         ") are not supported: 1 to 1024; check the model's config.json");
}

}  // namespace

template <typename F>
void attention_forward(F* out, F* att, const F* qkv, int B, int T, int C, int NH) {
  check_head(C, NH);
  const int HS = C / NH;
  const int64_t C3 = 3 * static_cast<int64_t>(C);
#pragma omp parallel
  {
    std::vector<F> kt(static_cast<size_t>(HS) * padded(T)), srow(padded(T));
#pragma omp for collapse(2)
    for (int b = 0; b < B; b++)
      for (int h = 0; h < NH; h++) {
        const F* seq = qkv + static_cast<int64_t>(b) * T * C3;
        F* o = out + static_cast<int64_t>(b) * T * C;
        F* a = att + (static_cast<int64_t>(b) * NH + h) * T * T;
        if (HS == 64)
          forward_head<F, 64>(o, a, seq, kt.data(), srow.data(), T, C, h, HS);
        else
          forward_head<F, 0>(o, a, seq, kt.data(), srow.data(), T, C, h, HS);
      }
  }
}

template <typename F>
void attention_backward(F* dqkv, const F* dout, const F* qkv, const F* att, int B, int T, int C,
                        int NH) {
  check_head(C, NH);
  const int HS = C / NH;
  const int64_t C3 = 3 * static_cast<int64_t>(C);
  // All writes of a task stay inside its head's slice of dqkv.
#pragma omp parallel
  {
    std::vector<F> vt(static_cast<size_t>(HS) * padded(T)),
        ds(static_cast<size_t>(T) * padded(T));
#pragma omp for collapse(2)
    for (int b = 0; b < B; b++)
      for (int h = 0; h < NH; h++) {
        const int64_t at = static_cast<int64_t>(b) * T;
        const F* a = att + (static_cast<int64_t>(b) * NH + h) * T * T;
        if (HS == 64)
          backward_head<F, 64>(dqkv + at * C3, dout + at * C, qkv + at * C3, a, vt.data(),
                               ds.data(), T, C, h, HS);
        else
          backward_head<F, 0>(dqkv + at * C3, dout + at * C, qkv + at * C3, a, vt.data(),
                              ds.data(), T, C, h, HS);
      }
  }
}

#define INSTRUCT_ATTENTION_INSTANTIATE(F)                                                          \
  template void attention_forward<F>(F * out, F * att, const F* qkv, int B, int T, int C, int NH); \
  template void attention_backward<F>(F * dqkv, const F* dout, const F* qkv, const F* att, int B,  \
                                      int T, int C, int NH);

INSTRUCT_ATTENTION_INSTANTIATE(float)
INSTRUCT_ATTENTION_INSTANTIATE(double)
#undef INSTRUCT_ATTENTION_INSTANTIATE

}  // namespace instruct
