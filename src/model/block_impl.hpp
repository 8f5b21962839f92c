// The block body (a template over the attention step, so training and inference share it).
#pragma once

#include "backend/backend.hpp"

namespace instruct {

// `x` rounded to bf16 into `dst` when the block keeps its GEMM inputs in bf16; null otherwise.
inline const uint16_t* block_half(uint16_t* dst, const float* x, int64_t n) {
  if (dst) backend().to_bf16(dst, x, n);
  return dst;
}

template <class Attention>
void block_forward(const BlockWeights& w, BlockActs& a, const float* x, int64_t N,
                   int64_t gemm_rows, int C, Attention&& attention) {
  const int n = static_cast<int>(N);
  const Backend& be = backend();
  be.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, w.ln1w, w.ln1b, n, C);
  linear_forward(w.qkv, a.qkv, a.ln1, gemm_rows, block_half(a.ln1_16, a.ln1, N * C));
  attention(a.atty, a.qkv);
  linear_forward(w.attproj, a.tmp, a.atty, gemm_rows, block_half(a.atty16, a.atty, N * C));
  be.residual_forward(a.res2, x, a.tmp, N * C);
  be.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, w.ln2w, w.ln2b, n, C);
  linear_forward(w.fc, a.fch, a.ln2, gemm_rows, block_half(a.ln2_16, a.ln2, N * C));
  be.gelu_forward(a.fchg, a.fch, N * 4 * C);
  linear_forward(w.fcproj, a.tmp, a.fchg, gemm_rows, block_half(a.fchg16, a.fchg, N * 4 * C));
  be.residual_forward(a.res3, a.res2, a.tmp, N * C);
}

}  // namespace instruct
