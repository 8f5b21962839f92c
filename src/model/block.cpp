// The linear seam: layouts become GEMM transposes, bf16 copies become bf16 GEMMs. Nothing else in
// the model calls gemm() for a weight.
#include "model/block.hpp"

#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"

namespace instruct {

namespace {

// The operands of a bf16 GEMM: activations and gradients rounded into reused per-thread buffers.
const uint16_t* bf16_of(std::vector<uint16_t>& buf, const float* x, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  to_bf16(buf.data(), x, n);
  return buf.data();
}
thread_local std::vector<uint16_t> scratch_a, scratch_b;

}  // namespace

void linear_forward(const Linear& L, float* out, const float* inp, int64_t N) {
  const bool conv = L.layout == WeightLayout::kConv1D;
  const GemmArgs g{N, L.out, L.in, false, !conv, false};
  if (!L.w16) return gemm(out, inp, L.w, L.b, g);
  gemm_bf16(out, bf16_of(scratch_a, inp, N * L.in), L.w16, L.b, g);
}

void linear_backward(const Linear& L, float* dinp, float* dw, float* db, const float* dout, const float* inp, int64_t N,
                     bool accumulate_dinp) {
  const bool conv = L.layout == WeightLayout::kConv1D;
  // dinp (N,in) = dout (N,out) @ W^T: W^T is Conv1D [in,out] transposed, or Linear [out,in] as is.
  const GemmArgs gin{N, L.in, L.out, false, conv, accumulate_dinp};
  // dW: [in,out] += inp^T dout (Conv1D), or [out,in] += dout^T inp (Linear); fp32 accumulation.
  const GemmArgs gw = conv ? GemmArgs{L.in, L.out, N, true, false, true} : GemmArgs{L.out, L.in, N, true, false, true};
  if (L.w16) {  // bf16 operands (mixed precision), fp32 results
    const uint16_t* dout16 = bf16_of(scratch_a, dout, N * L.out);
    if (dinp) gemm_bf16(dinp, dout16, L.w16, nullptr, gin);
    if (dw) {
      const uint16_t* inp16 = bf16_of(scratch_b, inp, N * L.in);
      if (conv) gemm_bf16(dw, inp16, dout16, nullptr, gw);
      else gemm_bf16(dw, dout16, inp16, nullptr, gw);
    }
  } else {
    if (dinp) gemm(dinp, dout, L.w, nullptr, gin);
    if (dw) {
      if (conv) gemm(dw, inp, dout, nullptr, gw);
      else gemm(dw, dout, inp, nullptr, gw);
    }
  }
  if (db) bias_backward(db, dout, static_cast<int>(N), static_cast<int>(L.out));
}

BlockWeights block_weights(const GPT2Config& c, const ParamTensors& p, const ParamViews16* p16, int l) {
  const int64_t C = c.n_embd;
  const LayerTensors& w = p.layers[l];
  const LayerViews<uint16_t>* w16 = p16 ? &p16->layers[l] : nullptr;
  const auto conv = WeightLayout::kConv1D;
  BlockWeights b;
  b.ln1w = w.ln1w, b.ln1b = w.ln1b, b.ln2w = w.ln2w, b.ln2b = w.ln2b;
  b.qkv = {w.qkvw, w16 ? w16->qkvw : nullptr, w.qkvb, C, 3 * C, conv};
  b.attproj = {w.attprojw, w16 ? w16->attprojw : nullptr, w.attprojb, C, C, conv};
  b.fc = {w.fcw, w16 ? w16->fcw : nullptr, w.fcb, C, 4 * C, conv};
  b.fcproj = {w.fcprojw, w16 ? w16->fcprojw : nullptr, w.fcprojb, 4 * C, C, conv};
  return b;
}

Linear head_weights(const GPT2Config& c, const ParamTensors& p, const ParamViews16* p16) {
  return {p.lm_head, p16 ? p16->lm_head : nullptr, nullptr, c.n_embd, c.vocab, WeightLayout::kLinear};
}

}  // namespace instruct
