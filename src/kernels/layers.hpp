// The non-GEMM kernels of a GPT-2 step, forward next to backward (llm.c style): embedding,
// LayerNorm, causal attention, GELU (tanh), residual, bias gradient, fused softmax + cross-entropy.
// Backward kernels accumulate (+=) into parameter and input gradients. No model knowledge.
// Templates on F: float for the engine, double for the finite-difference tests.
#pragma once

#include <cstdint>

namespace instruct {

// out (B,T,C) = wte[inp] + wpe[t]; inp (B,T) token ids, wte (V,C), wpe (maxT,C). With `pos`
// (B*T) row i's position is pos[i] instead (inference: rows of different sequences and offsets).
template <typename F>
void encoder_forward(F* out, const int32_t* inp, const F* wte, const F* wpe, int B, int T, int C,
                     const int32_t* pos = nullptr);
template <typename F>
void encoder_backward(F* dwte, F* dwpe, const F* dout, const int32_t* inp, int B, int T, int C);

// out (N,C) = (inp - mean) * rstd * weight + bias, biased variance, eps 1e-5; saves mean, rstd (N)
template <typename F>
void layernorm_forward(F* out, F* mean, F* rstd, const F* inp, const F* weight, const F* bias,
                       int N, int C);
// dweight and dbias may be null (a frozen LayerNorm): then only dinp is accumulated.
template <typename F>
void layernorm_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight,
                        const F* mean, const F* rstd, int N, int C);

// Causal multi-head attention on a fused qkv (B,T,3C) = [q | k | v]; out (B,T,C).
// Saves att (B,NH,T,T), the softmax of q.k / sqrt(HS) (zero above the diagonal).
template <typename F>
void attention_forward(F* out, F* att, const F* qkv, int B, int T, int C, int NH);
template <typename F>
void attention_backward(F* dqkv, const F* dout, const F* qkv, const F* att, int B, int T, int C,
                        int NH);

// GELU, tanh approximation (GPT-2's gelu_new).
template <typename F>
void gelu_forward(F* out, const F* inp, int64_t N);
template <typename F>
void gelu_backward(F* dinp, const F* inp, const F* dout, int64_t N);

// t (cols,rows) = w (rows,cols) transposed, in cache-sized tiles (HF's Conv1D [in,out] weights to
// GGUF's and Q8_0's [out,in] rows, and back).
void transpose(float* t, const float* w, int64_t rows, int64_t cols);

// out = a + b
template <typename F>
void residual_forward(F* out, const F* a, const F* b, int64_t N);
// da += dout, db += dout
template <typename F>
void residual_backward(F* da, F* db, const F* dout, int64_t N);

// dbias (OC) += column sums of dout (N,OC)
template <typename F>
void bias_backward(F* dbias, const F* dout, int N, int OC);

// Cross-entropy with ignore_index -100, mean over counted targets. Works in place on logits (N,V):
// afterwards the buffer holds dloss/dlogits (zero rows where the target is ignored). Returns the
// mean loss, or 0 when no target counts (then the gradient is all zero); *counted gets the count.
// With `denominator` > 0 the gradient is divided by it instead of the count (gradient accumulation
// normalized per counted token across micro-batches); the returned loss is still the mean.
template <typename F>
double crossentropy_forward_backward(F* logits, const int32_t* targets, int N, int V,
                                     int64_t* counted, int64_t denominator = 0);
// Loss only, logits untouched.
template <typename F>
double crossentropy_forward(const F* logits, const int32_t* targets, int N, int V,
                            int64_t* counted);

// Per row: out[i] = log softmax(logits[i])[labels[i]] (the log-probability of the label).
template <typename F>
void logprob_rows(double* out, const F* logits, const int32_t* labels, int N, int V);
// In place: logits[i] becomes dout[i] * d out[i] / d logits[i] = dout[i] * (onehot(label) -
// softmax).
template <typename F>
void logprob_rows_backward(F* logits, const int32_t* labels, const double* dout, int N, int V);

}  // namespace instruct
