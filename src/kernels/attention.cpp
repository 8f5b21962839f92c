// Causal attention for training, one (sequence, head) per task, register-blocked: the scores of a
// query row 16 keys at a time against the keys transposed into a [HS, T] scratch (no horizontal sum
// per pair), and every weighted sum over rows (the output, dq, dk, dv) accumulated in registers
// across the head's channels, each row read once per pair and written once. GPT-2's heads are 64
// wide: that width is a compile-time constant (the accumulators stay in registers); others run the
// same code with the width at run time.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "kernels/layers.hpp"
#include "kernels/vmath.hpp"

namespace instruct {

namespace {

constexpr int kKeys = 16;  // keys per block of scores

// 64 bytes of F as one value (GCC's vector extension: a zmm register with AVX-512, two ymm with
// AVX2): named locals of this type stay in registers where an array of F the loop indexes does not.
typedef float VecF __attribute__((vector_size(64)));
typedef double VecD __attribute__((vector_size(64)));
template <typename F>
using Vec = std::conditional_t<std::is_same_v<F, float>, VecF, VecD>;
static_assert(sizeof(Vec<float>) == 64 && sizeof(Vec<double>) == 64);
template <typename F>
constexpr int kLanes = 64 / sizeof(F);
template <typename F>
Vec<F> load(const F* p) {
  Vec<F> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename F>
void store(F* p, Vec<F> v) {
  std::memcpy(p, &v, sizeof v);
}

int padded(int T) {
  return (T + kKeys - 1) / kKeys * kKeys;
}

// x (T rows of HS at row stride ld) transposed into xt [HS, Tp], the padding zero. Row by row: a
// row of x is read whole once (its stride aliases in L1, see HeadScratch).
template <typename F>
void transpose_head(F* xt, const F* x, int64_t ld, int T, int HS) {
  const int Tp = padded(T);
  for (int t = 0; t < T; t++) {
    const F* row = x + t * ld;
    for (int i = 0; i < HS; i++) xt[static_cast<int64_t>(i) * Tp + t] = row[i];
  }
  for (int i = 0; i < HS; i++)
    for (int t = T; t < Tp; t++) xt[static_cast<int64_t>(i) * Tp + t] = F(0);
}

// out[0..n) = x . xt[:, 0..n): one row against n transposed rows, 16 keys a block (n rounded up to
// a block: out has room for it). Eight independent sums in flight (an FMA's latency is 4 cycles,
// two issue a cycle): four blocks at once with the channels split in two, or one block with the
// channels split in eight.
template <typename F, int kHS>
void row_scores(F* out, const F* x, const F* xt, int n, int Tp, int hs) {
  const int HS = kHS ? kHS : hs;
  constexpr int kGroup = 4;
  int b0 = 0;
  for (; b0 + kGroup * kKeys <= (n + kKeys - 1) / kKeys * kKeys; b0 += kGroup * kKeys) {
    F acc[2][kGroup][kKeys] = {};
    int i = 0;
    for (; i + 2 <= HS; i += 2)
#pragma GCC unroll 2
      for (int c = 0; c < 2; c++) {
        const F xi = x[i + c];
        const F* k = xt + static_cast<int64_t>(i + c) * Tp + b0;
#pragma GCC unroll 4
        for (int g = 0; g < kGroup; g++)
#pragma omp simd
          for (int j = 0; j < kKeys; j++) acc[c][g][j] += xi * k[g * kKeys + j];
      }
    for (; i < HS; i++)
      for (int g = 0; g < kGroup; g++)
        for (int j = 0; j < kKeys; j++)
          acc[0][g][j] += x[i] * xt[static_cast<int64_t>(i) * Tp + b0 + g * kKeys + j];
    for (int g = 0; g < kGroup; g++)
      for (int j = 0; j < kKeys; j++) out[b0 + g * kKeys + j] = acc[0][g][j] + acc[1][g][j];
  }
  constexpr int kSplit = 8;
  for (; b0 < n; b0 += kKeys) {
    F acc[kSplit][kKeys] = {};
    int i = 0;
    for (; i + kSplit <= HS; i += kSplit)
#pragma GCC unroll 8
      for (int c = 0; c < kSplit; c++) {
        const F xi = x[i + c];
        const F* k = xt + static_cast<int64_t>(i + c) * Tp + b0;
#pragma omp simd
        for (int j = 0; j < kKeys; j++) acc[c][j] += xi * k[j];
      }
    for (; i < HS; i++)
      for (int j = 0; j < kKeys; j++) acc[0][j] += x[i] * xt[static_cast<int64_t>(i) * Tp + b0 + j];
    for (int j = 0; j < kKeys; j++) {
      F sum = 0;
      for (int c = 0; c < kSplit; c++) sum += acc[c][j];
      out[b0 + j] = sum;
    }
  }
}

// acc[0..HS) = sum over r < n of w[r] * rows[r * ld ..]: two interleaved sets of sums (even and odd
// rows) so that twice as many FMAs are in flight.
template <typename F, int kHS>
void weighted_rows(F* acc, const F* w, const F* rows, int64_t ld, int n, int hs) {
  if constexpr (kHS % kLanes<F> == 0 && kHS > 0) {
    constexpr int NV = kHS / kLanes<F>;
    Vec<F> a0[NV] = {}, a1[NV] = {};
    int r = 0;
    for (; r + 2 <= n; r += 2) {
      const F w0 = w[r], w1 = w[r + 1];
      const F* x0 = rows + r * ld;
      const F* x1 = x0 + ld;
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++)
        a0[v] += w0 * load(x0 + v * kLanes<F>), a1[v] += w1 * load(x1 + v * kLanes<F>);
    }
    if (r < n)
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) a0[v] += w[r] * load(rows + r * ld + v * kLanes<F>);
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) store(acc + v * kLanes<F>, a0[v] + a1[v]);
    return;
  }
  const int HS = kHS ? kHS : hs;
  F a0[kHS ? kHS : 1024] = {}, a1[kHS ? kHS : 1024] = {};
  int r = 0;
  for (; r + 2 <= n; r += 2) {
    const F w0 = w[r], w1 = w[r + 1];
    const F* x0 = rows + r * ld;
    const F* x1 = x0 + ld;
#pragma omp simd
    for (int i = 0; i < HS; i++) a0[i] += w0 * x0[i], a1[i] += w1 * x1[i];
  }
  if (r < n) {
    const F w0 = w[r];
    const F* x0 = rows + r * ld;
#pragma omp simd
    for (int i = 0; i < HS; i++) a0[i] += w0 * x0[i];
  }
  for (int i = 0; i < HS; i++) acc[i] = a0[i] + a1[i];
}

// A task's scratch: the head's rows copied out of the fused qkv (whose row stride, 3C floats, is a
// multiple of 4 KiB for every GPT-2 size: rows read in place would all fall in the same few L1
// sets), the transposed keys or values, and a score row or the score gradients.
template <typename F>
struct HeadScratch {
  std::vector<F> xt, a, b, c, s;
  HeadScratch(int T, int HS, bool backward)
      : xt(static_cast<size_t>(HS) * padded(T)),
        a(static_cast<size_t>(T) * HS),
        b(backward ? a.size() : 0),
        c(backward ? a.size() : 0),
        s(static_cast<size_t>(backward ? T : 1) * padded(T)) {}
};

// T rows of HS at row stride ld into dst [T, HS].
template <typename F>
void gather_head(F* dst, const F* x, int64_t ld, int T, int HS) {
  for (int t = 0; t < T; t++)
    for (int i = 0; i < HS; i++) dst[static_cast<int64_t>(t) * HS + i] = x[t * ld + i];
}

template <typename F, int kHS>
void forward_head(F* out, F* att, const F* seq, HeadScratch<F>& w, int T, int C, int h, int hs) {
  const int HS = kHS ? kHS : hs, Tp = padded(T);
  const int64_t C3 = 3 * static_cast<int64_t>(C);
  const F scale = F(1) / std::sqrt(static_cast<F>(HS));
  F *kt = w.xt.data(), *v = w.a.data(), *srow = w.s.data();
  transpose_head(kt, seq + C + h * HS, C3, T, HS);
  gather_head(v, seq + 2 * C + h * HS, C3, T, HS);
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
    weighted_rows<F, kHS>(out + static_cast<int64_t>(t) * C + h * HS, a, v, HS, n, HS);
  }
}

// dS (T rows of Tp) = the scores' gradient, dq written; then dk, dv a key row at a time.
template <typename F, int kHS>
void backward_head(F* dseq, const F* dout, const F* seq, const F* att, HeadScratch<F>& w, int T,
                   int C, int h, int hs) {
  const int HS = kHS ? kHS : hs, Tp = padded(T);
  const int64_t C3 = 3 * static_cast<int64_t>(C);
  const F scale = F(1) / std::sqrt(static_cast<F>(HS));
  F *vt = w.xt.data(), *q = w.a.data(), *k = w.b.data(), *dy = w.c.data(), *ds = w.s.data();
  transpose_head(vt, seq + 2 * C + h * HS, C3, T, HS);
  gather_head(q, seq + h * HS, C3, T, HS);
  gather_head(k, seq + C + h * HS, C3, T, HS);
  gather_head(dy, dout + h * HS, C, T, HS);
  for (int t = 0; t < T; t++) {
    const int n = t + 1;
    const F* a = att + static_cast<int64_t>(t) * T;
    F* d = ds + static_cast<int64_t>(t) * Tp;
    row_scores<F, kHS>(d, dy + static_cast<int64_t>(t) * HS, vt, n, Tp, HS);  // V dy
    F s = 0;
#pragma omp simd reduction(+ : s)
    for (int t2 = 0; t2 < n; t2++) s += a[t2] * d[t2];
#pragma omp simd
    for (int t2 = 0; t2 < n; t2++) d[t2] = a[t2] * (d[t2] - s) * scale;
    F acc[kHS ? kHS : 1024];  // HS <= 1024 (checked by the caller)
    weighted_rows<F, kHS>(acc, d, k, HS, n, HS);
    F* dq = dseq + t * C3 + h * HS;
    for (int i = 0; i < HS; i++) dq[i] += acc[i];
  }
  if constexpr (kHS % kLanes<F> == 0 && kHS > 0) {  // the same, the sums in registers
    constexpr int NV = kHS / kLanes<F>;
    for (int t2 = 0; t2 < T; t2++) {
      Vec<F> dk[NV] = {}, dv[NV] = {};
      for (int t = t2; t < T; t++) {
        const F p = ds[static_cast<int64_t>(t) * Tp + t2],
                g = att[static_cast<int64_t>(t) * T + t2];
        const F* qt = q + static_cast<int64_t>(t) * HS;
        const F* dyt = dy + static_cast<int64_t>(t) * HS;
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++)
          dk[v] += p * load(qt + v * kLanes<F>), dv[v] += g * load(dyt + v * kLanes<F>);
      }
      F* kd = dseq + t2 * C3 + C + h * HS;
      F* vd = dseq + t2 * C3 + 2 * C + h * HS;
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) {
        store(kd + v * kLanes<F>, load(kd + v * kLanes<F>) + dk[v]);
        store(vd + v * kLanes<F>, load(vd + v * kLanes<F>) + dv[v]);
      }
    }
    return;
  }
  for (int t2 = 0; t2 < T; t2++) {
    F dk[kHS ? kHS : 1024] = {}, dv[kHS ? kHS : 1024] = {};
    for (int t = t2; t < T; t++) {
      const F p = ds[static_cast<int64_t>(t) * Tp + t2], g = att[static_cast<int64_t>(t) * T + t2];
      const F* qt = q + static_cast<int64_t>(t) * HS;
      const F* dyt = dy + static_cast<int64_t>(t) * HS;
#pragma omp simd
      for (int i = 0; i < HS; i++) dk[i] += p * qt[i], dv[i] += g * dyt[i];
    }
    F* kd = dseq + t2 * C3 + C + h * HS;
    F* vd = dseq + t2 * C3 + 2 * C + h * HS;
    for (int i = 0; i < HS; i++) kd[i] += dk[i], vd[i] += dv[i];
  }
}

void check_head(int C, int NH) {
  if (NH <= 0 || C % NH != 0 || C / NH > 1024)
    fail("attention heads ", NH <= 0 ? 0 : C / NH, " wide (n_embd ", C, ", n_head ", NH,
         ") are not supported: 1 to 1024; check the model's config.json");
}

// fn(width, scratch, b, h) for every (sequence, head), one per task, each thread with its scratch;
// `width` a std::integral_constant: 64 (the compile-time width of GPT-2's heads) or 0 (any other).
template <typename F, class Fn>
void each_head(int B, int T, int C, int NH, bool backward, Fn&& fn) {
  check_head(C, NH);
  const int HS = C / NH;
#pragma omp parallel
  {
    HeadScratch<F> w(T, HS, backward);
#pragma omp for collapse(2)
    for (int b = 0; b < B; b++)
      for (int h = 0; h < NH; h++) {
        if (HS == 64)
          fn(std::integral_constant<int, 64>{}, w, b, h);
        else
          fn(std::integral_constant<int, 0>{}, w, b, h);
      }
  }
}

}  // namespace

template <typename F>
void attention_forward(F* out, F* att, const F* qkv, int B, int T, int C, int NH) {
  const int64_t C3 = 3 * static_cast<int64_t>(C), bt = static_cast<int64_t>(T);
  each_head<F>(B, T, C, NH, false, [&](auto width, HeadScratch<F>& w, int b, int h) {
    forward_head<F, decltype(width)::value>(out + b * bt * C, att + (b * NH + h) * bt * T,
                                            qkv + b * bt * C3, w, T, C, h, C / NH);
  });
}

template <typename F>
void attention_backward(F* dqkv, const F* dout, const F* qkv, const F* att, int B, int T, int C,
                        int NH) {
  const int64_t C3 = 3 * static_cast<int64_t>(C), bt = static_cast<int64_t>(T);
  // All writes of a task stay inside its head's slice of dqkv.
  each_head<F>(B, T, C, NH, true, [&](auto width, HeadScratch<F>& w, int b, int h) {
    backward_head<F, decltype(width)::value>(dqkv + b * bt * C3, dout + b * bt * C,
                                             qkv + b * bt * C3, att + (b * NH + h) * bt * T, w, T,
                                             C, h, C / NH);
  });
}

#define INSTRUCT_ATTENTION_INSTANTIATE(F)                                                          \
  template void attention_forward<F>(F * out, F * att, const F* qkv, int B, int T, int C, int NH); \
  template void attention_backward<F>(F * dqkv, const F* dout, const F* qkv, const F* att, int B,  \
                                      int T, int C, int NH);

INSTRUCT_ATTENTION_INSTANTIATE(float)
INSTRUCT_ATTENTION_INSTANTIATE(double)
#undef INSTRUCT_ATTENTION_INSTANTIATE

}  // namespace instruct
