// The one linear seam and the one transformer-block body, shared by the training forward
// (model/gpt2) and the KV-cache inference (model/gpt2_infer): they differ only in how attention
// reads keys and values, which the caller passes in. Every matmul of the model goes through
// linear_forward/linear_backward, and from there through gemm(); weights are fp32, or bf16 copies
// when the model carries them. Knows nothing of files, losses or caches.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.hpp"
#include "model/lora.hpp"
#include "model/params.hpp"

namespace instruct {

// A linear layer's weights: fp32, and in bf16 either a plain copy in the same layout (training:
// every GEMM of the layer, forward and backward, takes bf16 operands and accumulates in fp32) or a
// copy packed for the forward GEMM (inference); bias, sizes and layout (Conv1D [in,out] or Linear
// [out,in]), and an optional LoRA adapter (fp32; its gradients, when it has them, are accumulated
// by the backward).
struct Linear {
  const float* w = nullptr;
  const uint16_t* w16 = nullptr;       // bf16, plain; when set, the layer runs in bf16
  const PackedWeight* w16p = nullptr;  // bf16, packed for the forward; when set, runs in bf16
  const float* b = nullptr;            // (out) or nullptr
  int64_t in = 0, out = 0;
  WeightLayout layout = WeightLayout::kConv1D;
  LoraLinear lora;
};

// out (N,out) = inp (N,in) @ W (+ b) (+ alpha * inp A^T B^T). With bf16 weights, inp is rounded to
// bf16 (or `inp16` is that rounding already) and the product accumulates in fp32.
void linear_forward(const Linear& L, float* out, const float* inp, int64_t N,
                    const uint16_t* inp16 = nullptr);
// dinp (N,in) = dout @ W^T (+ the adapter's path) (written, or added when accumulate_dinp; skipped
// when dinp is null); dw += the weight gradient in W's layout (skipped when null: a frozen weight);
// db += sum(dout); the adapter's dA, dB += theirs when it has gradients.
// With bf16 weights, `inp16` (when given) is inp rounded to bf16, kept from the forward: then inp
// may be null (not with an adapter, whose path is fp32).
void linear_backward(const Linear& L, float* dinp, float* dw, float* db, const float* dout,
                     const float* inp, int64_t N, bool accumulate_dinp = false,
                     const uint16_t* inp16 = nullptr);

// A model's linear weights in bf16 as the weights of its GEMMs: a plain copy laid out as the
// parameters (training: the forward and both backward GEMMs read it; one cast per optimizer step),
// or each linear packed once for the forward GEMM (inference, where the blocked layout pays most:
// a decoding step multiplies one row by every weight). Packed linear i is layer l's qkv, attproj,
// fc, fcproj at i = 4l..4l+3, the head last.
struct Bf16Weights {
  std::vector<uint16_t> plain;
  ParamViews16 views;  // into `plain`
  std::vector<PackedWeight> packed;
};
// Packs every linear of a model for the forward GEMM.
void bf16_linears_pack(std::vector<PackedWeight>& packed, const GPT2Config& c,
                       const ParamTensors& p);

// One pre-LN block's weights.
struct BlockWeights {
  const float *ln1w, *ln1b, *ln2w, *ln2b;
  Linear qkv, attproj, fc, fcproj;
};
// Layer l of a model: its views, plus its bf16 weights when `w16` has any, plus the adapter's
// pieces when `lora` is on.
BlockWeights block_weights(const GPT2Config& c, const ParamTensors& p, const Bf16Weights* w16,
                           const LoraAdapter* lora, int l);
// The LM head as a linear layer: Linear [V,C] (the untied head, or wte when tied).
Linear head_weights(const GPT2Config& c, const ParamTensors& p, const Bf16Weights* w16,
                    const LoraAdapter* lora);

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
