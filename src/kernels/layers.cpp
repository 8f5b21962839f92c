// Straightforward loops with OpenMP over rows/heads; F math, double where sums are long.
#include "kernels/layers.hpp"

#include <omp.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/vmath.hpp"

namespace instruct {

// Sums below are `omp simd` reductions: the lanes add in another order than a scalar loop (which
// the compiler may not reorder without -ffast-math), within float rounding of it.

template <typename F>
void encoder_forward(F* out, const int32_t* inp, const F* wte, const F* wpe, int B, int T, int C,
                     const int32_t* pos) {
#pragma omp parallel for
  for (int bt = 0; bt < B * T; bt++) {
    const F* te = wte + static_cast<int64_t>(inp[bt]) * C;
    const F* pe = wpe + static_cast<int64_t>(pos ? pos[bt] : bt % T) * C;
    F* o = out + static_cast<int64_t>(bt) * C;
    for (int c = 0; c < C; c++) o[c] = te[c] + pe[c];
  }
}

template <typename F>
void encoder_backward(F* dwte, F* dwpe, const F* dout, const int32_t* inp, int B, int T, int C) {
  // Parallel over channels: rows of dwte repeat across tokens, channels never collide.
#pragma omp parallel for
  for (int c = 0; c < C; c++) {
    for (int bt = 0; bt < B * T; bt++) {
      const F d = dout[static_cast<int64_t>(bt) * C + c];
      dwte[static_cast<int64_t>(inp[bt]) * C + c] += d;
      dwpe[static_cast<int64_t>(bt % T) * C + c] += d;
    }
  }
}

template <typename F>
void layernorm_forward(F* out, F* mean, F* rstd, const F* inp, const F* weight, const F* bias,
                       int N, int C) {
  const F eps = F(1e-5);
#pragma omp parallel for
  for (int i = 0; i < N; i++) {
    const F* x = inp + static_cast<int64_t>(i) * C;
    F m = 0.0f;
#pragma omp simd reduction(+ : m)
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    F v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    const F s = 1.0f / std::sqrt(v + eps);
    F* o = out + static_cast<int64_t>(i) * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[i] = m;
    rstd[i] = s;
  }
}

template <typename F>
void layernorm_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight,
                        const F* mean, const F* rstd, int N, int C) {
  const int nt = omp_get_max_threads();
  std::vector<F> part(static_cast<size_t>(nt) * 2 * C, F(0));  // per-thread dweight, dbias
#pragma omp parallel
  {
    F* pw = part.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * C;
    F* pb = pw + C;
#pragma omp for
    for (int i = 0; i < N; i++) {
      const F* x = inp + static_cast<int64_t>(i) * C;
      const F* dy = dout + static_cast<int64_t>(i) * C;
      F* dx = dinp + static_cast<int64_t>(i) * C;
      const F m = mean[i], s = rstd[i];
      F dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
      for (int c = 0; c < C; c++) {
        const F norm = (x[c] - m) * s;
        const F dnorm = weight[c] * dy[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
      }
      dnorm_mean /= C;
      dnorm_norm_mean /= C;
#pragma omp simd
      for (int c = 0; c < C; c++) {
        const F norm = (x[c] - m) * s;
        const F dnorm = weight[c] * dy[c];
        pb[c] += dy[c];
        pw[c] += norm * dy[c];
        dx[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
      }
    }
  }
  if (!dweight) return;  // a frozen LayerNorm: only the input gradient
  for (int t = 0; t < nt; t++)
    for (int c = 0; c < C; c++) {
      dweight[c] += part[static_cast<size_t>(t) * 2 * C + c];
      dbias[c] += part[static_cast<size_t>(t) * 2 * C + C + c];
    }
}

namespace {
template <typename F>
constexpr F kGeluScale = F(0.7978845608028654);  // sqrt(2/pi)
}

template <typename F>
F tanh_of(F x) {
  if constexpr (std::is_same_v<F, float>)
    return tanhf(x);
  else
    return std::tanh(x);
}

template <typename F>
void gelu_forward(F* out, const F* inp, int64_t N) {
#pragma omp parallel for simd
  for (int64_t i = 0; i < N; i++) {
    const F x = inp[i];
    out[i] = F(0.5) * x * (F(1) + tanh_of(kGeluScale<F> * (x + F(0.044715) * x * x * x)));
  }
}

template <typename F>
void gelu_backward(F* dinp, const F* inp, const F* dout, int64_t N) {
#pragma omp parallel for simd
  for (int64_t i = 0; i < N; i++) {
    const F x = inp[i];
    const F u = kGeluScale<F> * (x + F(0.044715) * x * x * x);
    const F th = tanh_of(u);
    const F sech2 = 1.0f - th * th;
    const F grad =
        0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale<F> * (1.0f + 3.0f * F(0.044715) * x * x);
    dinp[i] += grad * dout[i];
  }
}

template <typename F>
void residual_forward(F* out, const F* a, const F* b, int64_t N) {
#pragma omp parallel for
  for (int64_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

template <typename F>
void residual_backward(F* da, F* db, const F* dout, int64_t N) {
#pragma omp parallel for
  for (int64_t i = 0; i < N; i++) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

template <typename F>
void bias_backward(F* dbias, const F* dout, int N, int OC) {
  // Each thread owns a block of columns and streams the rows through it (contiguous reads).
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int lo = static_cast<int>(static_cast<int64_t>(OC) * id / nt);
    const int hi = static_cast<int>(static_cast<int64_t>(OC) * (id + 1) / nt);
    std::vector<double> acc(static_cast<size_t>(hi - lo), 0.0);
    for (int i = 0; i < N; i++) {
      const F* row = dout + static_cast<int64_t>(i) * OC;
#pragma omp simd
      for (int o = lo; o < hi; o++) acc[o - lo] += row[o];
    }
    for (int o = lo; o < hi; o++) dbias[o] += static_cast<F>(acc[o - lo]);
  }
}

namespace {

template <typename F>
F row_max(const F* x, int V) {
  F m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int v = 0; v < V; v++) m = x[v] > m ? x[v] : m;
  return m;
}

// log(sum(exp(x - max))) + max over one row (vectorized: the sum in SIMD lanes).
template <typename F>
F logsumexp(const F* x, int V) {
  const F m = row_max(x, V);
  F s = 0;
#pragma omp simd reduction(+ : s)
  for (int v = 0; v < V; v++) s += exp_of(x[v] - m);
  return m + std::log(s);
}

// x = softmax(x) * scale in place, one exp per element; returns the row's log-sum-exp.
template <typename F>
F softmax_scaled(F* x, int V, F scale) {
  const F m = row_max(x, V);
  F s = 0;
#pragma omp simd reduction(+ : s)
  for (int v = 0; v < V; v++) {
    const F e = exp_of(x[v] - m);
    x[v] = e;
    s += e;
  }
  const F k = scale / s;
#pragma omp simd
  for (int v = 0; v < V; v++) x[v] *= k;
  return m + std::log(s);
}

int64_t count_targets(const int32_t* targets, int N) {
  int64_t n = 0;
  for (int i = 0; i < N; i++) n += targets[i] != -100;
  return n;
}

}  // namespace

template <typename F>
double crossentropy_forward(const F* logits, const int32_t* targets, int N, int V,
                            int64_t* counted) {
  *counted = count_targets(targets, N);
  double loss = 0.0;
#pragma omp parallel for reduction(+ : loss)
  for (int i = 0; i < N; i++) {
    if (targets[i] == -100) continue;
    const F* x = logits + static_cast<int64_t>(i) * V;
    loss += logsumexp(x, V) - x[targets[i]];
  }
  return *counted ? loss / static_cast<double>(*counted) : 0.0;
}

template <typename F>
double crossentropy_forward_backward(F* logits, const int32_t* targets, int N, int V,
                                     int64_t* counted, int64_t denominator) {
  *counted = count_targets(targets, N);
  const int64_t denom = denominator > 0 ? denominator : *counted;
  const F inv = *counted ? 1.0f / static_cast<F>(denom) : 0.0f;
  double loss = 0.0;
#pragma omp parallel for reduction(+ : loss)
  for (int i = 0; i < N; i++) {
    F* x = logits + static_cast<int64_t>(i) * V;
    if (targets[i] == -100) {
      for (int v = 0; v < V; v++) x[v] = 0.0f;
      continue;
    }
    const F target = x[targets[i]];
    loss += softmax_scaled(x, V, inv) - target;
    x[targets[i]] -= inv;
  }
  return *counted ? loss / static_cast<double>(*counted) : 0.0;
}

template <typename F>
void logprob_rows(double* out, const F* logits, const int32_t* labels, int N, int V) {
#pragma omp parallel for
  for (int i = 0; i < N; i++) {
    const F* x = logits + static_cast<int64_t>(i) * V;
    out[i] = static_cast<double>(x[labels[i]]) - static_cast<double>(logsumexp(x, V));
  }
}

template <typename F>
void logprob_rows_backward(F* logits, const int32_t* labels, const double* dout, int N, int V) {
#pragma omp parallel for
  for (int i = 0; i < N; i++) {
    F* x = logits + static_cast<int64_t>(i) * V;
    const F g = static_cast<F>(dout[i]);
    softmax_scaled(x, V, -g);
    x[labels[i]] += g;
  }
}

// Float for the engine, double for the finite-difference tests.
#define INSTRUCT_LAYERS_INSTANTIATE(F)                                                             \
  template void encoder_forward<F>(F * out, const int32_t* inp, const F* wte, const F* wpe, int B, \
                                   int T, int C, const int32_t* pos);                              \
  template void encoder_backward<F>(F * dwte, F * dwpe, const F* dout, const int32_t* inp, int B,  \
                                    int T, int C);                                                 \
  template void layernorm_forward<F>(F * out, F * mean, F * rstd, const F* inp, const F* weight,   \
                                     const F* bias, int N, int C);                                 \
  template void layernorm_backward<F>(F * dinp, F * dweight, F * dbias, const F* dout,             \
                                      const F* inp, const F* weight, const F* mean, const F* rstd, \
                                      int N, int C);                                               \
  template void gelu_forward<F>(F * out, const F* inp, int64_t N);                                 \
  template void gelu_backward<F>(F * dinp, const F* inp, const F* dout, int64_t N);                \
  template void residual_forward<F>(F * out, const F* a, const F* b, int64_t N);                   \
  template void residual_backward<F>(F * da, F * db, const F* dout, int64_t N);                    \
  template void bias_backward<F>(F * dbias, const F* dout, int N, int OC);                         \
  template double crossentropy_forward_backward<F>(F * logits, const int32_t* targets, int N,      \
                                                   int V, int64_t* counted, int64_t denominator);  \
  template double crossentropy_forward<F>(const F* logits, const int32_t* targets, int N, int V,   \
                                          int64_t* counted);                                       \
  template void logprob_rows<F>(double* out, const F* logits, const int32_t* labels, int N,        \
                                int V);                                                            \
  template void logprob_rows_backward<F>(F * logits, const int32_t* labels, const double* dout,    \
                                         int N, int V);

INSTRUCT_LAYERS_INSTANTIATE(float)
INSTRUCT_LAYERS_INSTANTIATE(double)
#undef INSTRUCT_LAYERS_INSTANTIATE

void transpose(float* t, const float* w, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
#pragma omp parallel for collapse(2) if (rows * cols > 65536)
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile)
      for (int64_t r = r0; r < std::min(rows, r0 + kTile); r++)
        for (int64_t c = c0; c < std::min(cols, c0 + kTile); c++) t[c * rows + r] = w[r * cols + c];
}

}  // namespace instruct
