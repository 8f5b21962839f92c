// The one linear seam and the one transformer-block body, shared by the training forward
// (model/gpt2) and the KV-cache inference (model/gpt2_infer): they differ only in how attention
// reads keys and values, which the caller passes in. Every matmul of the model goes through
// linear_forward/linear_backward, and from there through one GEMM per weight type (model/weights).
// Knows nothing of files, losses or caches.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.hpp"
#include "model/lora.hpp"
#include "model/params.hpp"
#include "model/weights.hpp"

namespace instruct {

// A linear layer: its weight in whatever type the model runs it (fp32, a bf16 copy for training,
// bf16 packed or Q8_0 for inference), bias, sizes, and an optional LoRA adapter (fp32; its
// gradients, when it has them, are accumulated by the backward).
struct Linear {
  WeightRef w;
  const float* b = nullptr;  // (out) or nullptr
  int64_t in = 0, out = 0;
  LoraLinear lora;
};

// out (N,out) = inp (N,in) @ W (+ b) (+ alpha * inp A^T B^T). With bf16 weights, inp is rounded to
// bf16 (or `inp16` is that rounding already) and the product accumulates in fp32; with Q8_0
// weights, inp is quantized per row and block of 32 and the block products are int32.
// `ldo`: out's row stride (0: L.out), for a linear that fills some columns of a wider output.
void linear_forward(const Linear& L, float* out, const float* inp, int64_t N,
                    const uint16_t* inp16 = nullptr, int64_t ldo = 0);
// dinp (N,in) = dout @ W^T (+ the adapter's path) (written, or added when accumulate_dinp; skipped
// when dinp is null); dw += the weight gradient in W's layout (written when !accumulate_dw, after
// dinp is done: a bf16 weight parked in dw is read first; skipped when null: a frozen weight);
// db += sum(dout); the adapter's dA, dB += theirs when it has gradients.
// With bf16 weights, `inp16` (when given) is inp rounded to bf16, kept from the forward: then inp
// may be null (not with an adapter, whose path is fp32); likewise `dout16` for dout (then dout may
// be null without a bias or an adapter). `ldd`: dout's row stride (0: L.out; not with a bias or
// an adapter).
void linear_backward(const Linear& L, float* dinp, float* dw, float* db, const float* dout,
                     const float* inp, int64_t N, bool accumulate_dinp = false,
                     const uint16_t* inp16 = nullptr, const uint16_t* dout16 = nullptr,
                     int64_t ldd = 0, bool accumulate_dw = true);

// Every linear of a model as fp32 parameter views: layer l's qkv, attproj, fc, fcproj at 4l..4l+3,
// the head last (what TypedWeights are made from).
std::vector<WeightSource> linear_sources(const GPT2Config& c, const ParamTensors& p);

// One pre-LN block's weights.
struct BlockWeights {
  const float *ln1w, *ln1b, *ln2w, *ln2b;
  Linear qkv, attproj, fc, fcproj;
};
// Layer l of a model: its weights as `typed` has them (fp32 views when null), plus the adapter's
// pieces when `lora` is on.
BlockWeights block_weights(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                           const LoraAdapter* lora, int l);
// The LM head as a linear layer: Linear [V,C] (the untied head, or wte when tied).
Linear head_weights(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                    const LoraAdapter* lora);
// The LM head's forward, logits (N,V) = inp (N,C) W^T, and backward (dinp (N,C) written, dw += in
// W's layout when not null, or = when !accumulate_dw; dlogits are spent: bf16 narrows them in
// place). bf16 training runs it in chunks of W's rows no larger than a layer's weights, each read
// where it is parked or cast just before its GEMMs, so the room for casts stays one layer's
// (gpt2-small's head is 5.5 layers).
void head_forward(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                  const LoraAdapter* lora, float* logits, const float* inp, int64_t N);
void head_backward(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                   const LoraAdapter* lora, float* dinp, float* dw, float* dlogits,
                   const float* inp, int64_t N, bool accumulate_dw = true);

// bf16 training: casts every linear's weight of `p` into the start of its gradient in `g` (the
// head's chunk by chunk) and has `typed` read them there until typed_training_stale (see
// TypedWeights::Jit). The gradients must hold nothing the step still needs.
void park_training_weights(const GPT2Config& c, const ParamTensors& p, ParamTensors& g,
                           const TypedWeights& typed);

// Where one block's forward writes. Training keeps every buffer per layer for the backward;
// inference points res2 and res3 at its running residual stream and reuses the rest.
struct BlockActs {
  float *ln1, *ln1_mean, *ln1_rstd;  // (N,C), (N), (N)
  float* qkv;                        // (N,3C)
  float* atty;                       // (N,C)
  float* res2;                       // (N,C) x + attention
  float *ln2, *ln2_mean, *ln2_rstd;
  float *fch, *fchg;  // (N,4C)
  float* res3;        // (N,C) the block's output
  float* tmp;         // (N,C) scratch: the projections' outputs
  // bf16 training: where the GEMMs' inputs are kept in bf16 for the backward (then the fp32 ln1,
  // atty, ln2 and fchg above are scratch shared by the layers); null: fp32 only.
  uint16_t *ln1_16 = nullptr, *atty16 = nullptr, *ln2_16 = nullptr, *fchg16 = nullptr;
};

// The block body: x (N,C) -> a.res3. `attention(atty, qkv)` fills atty (N,C) from qkv (N,3C).
// Elementwise work covers N rows; the GEMMs cover gemm_rows >= N (inference rounds row counts up
// so oneDNN keeps few primitive shapes; the extra rows are scratch).
template <class Attention>
void block_forward(const BlockWeights& w, BlockActs& a, const float* x, int64_t N,
                   int64_t gemm_rows, int C, Attention&& attention);

}  // namespace instruct

#include "model/block_impl.hpp"
