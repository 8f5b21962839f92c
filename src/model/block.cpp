// The linear seam: layouts become GEMM transposes, bf16 copies become bf16 GEMMs. Nothing else in
// the model calls gemm() for a weight.
#include "model/block.hpp"

#include <vector>

#include "core/error.hpp"
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
thread_local std::vector<float> lora_u, lora_du;

float* grown(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
  return v.data();
}

// u (N,R) = alpha * inp A^T: the adapter's low-rank activations (R = pieces * r).
float* lora_down(const Linear& L, const float* inp, int64_t N) {
  const LoraLinear& a = L.lora;
  const int64_t R = a.pieces * a.rank;
  float* u = grown(lora_u, N * R);
  gemm(u, inp, a.A, nullptr, {N, R, L.in, false, true, false});
  const float alpha = a.alpha;
#pragma omp parallel for if (N * R > 65536)
  for (int64_t i = 0; i < N * R; i++) u[i] *= alpha;
  return u;
}

// out (N,out) += u B^T, piece by piece: piece j's ranks j*r.. feed its outputs j*out/pieces...
void lora_forward(const Linear& L, float* out, const float* inp, int64_t N) {
  const LoraLinear& a = L.lora;
  const int64_t R = a.pieces * a.rank, op = L.out / a.pieces;
  const float* u = lora_down(L, inp, N);
  for (int j = 0; j < a.pieces; j++) {
    GemmArgs g{N, op, a.rank, false, true, true};
    g.lda = R, g.ldc = L.out;
    gemm(out + j * op, u + j * a.rank, a.B + j * op * a.rank, nullptr, g);
  }
}

// The adapter's backward: dB += dout^T u, du = alpha * dout B, dA += du^T inp, dinp += du A.
void lora_backward(const Linear& L, float* dinp, const float* dout, const float* inp, int64_t N) {
  const LoraLinear& a = L.lora;
  const int64_t R = a.pieces * a.rank, op = L.out / a.pieces;
  const float* u = lora_down(L, inp, N);  // recomputed: N x R, cheaper than keeping it per layer
  float* du = grown(lora_du, N * R);
  for (int j = 0; j < a.pieces; j++) {
    const float* dout_j = dout + j * op;
    if (a.dB) {
      GemmArgs g{op, a.rank, N, true, false, true};
      g.lda = L.out, g.ldb = R;
      gemm(a.dB + j * op * a.rank, dout_j, u + j * a.rank, nullptr, g);
    }
    GemmArgs g{N, a.rank, op, false, false, false};
    g.lda = L.out, g.ldc = R;
    gemm(du + j * a.rank, dout_j, a.B + j * op * a.rank, nullptr, g);
  }
  const float alpha = a.alpha;
#pragma omp parallel for if (N * R > 65536)
  for (int64_t i = 0; i < N * R; i++) du[i] *= alpha;
  if (a.dA) gemm(a.dA, du, inp, nullptr, {R, L.in, N, true, false, true});
  if (dinp) gemm(dinp, du, a.A, nullptr, {N, L.in, R, false, false, true});
}

}  // namespace

void linear_forward(const Linear& L, float* out, const float* inp, int64_t N,
                    const uint16_t* inp16) {
  const bool conv = L.layout == WeightLayout::kConv1D;
  const GemmArgs g{N, L.out, L.in, false, !conv, false};
  const uint16_t* in16 = !L.w16p && !L.w16 ? nullptr
                         : inp16           ? inp16
                                           : bf16_of(scratch_a, inp, N * L.in);
  if (L.w16p)
    gemm_bf16_packed(out, in16, *L.w16p, L.b, g);
  else if (L.w16)
    gemm_bf16(out, in16, L.w16, L.b, g);
  else
    gemm(out, inp, L.w, L.b, g);
  if (L.lora.on()) lora_forward(L, out, inp, N);
}

void linear_backward(const Linear& L, float* dinp, float* dw, float* db, const float* dout,
                     const float* inp, int64_t N, bool accumulate_dinp, const uint16_t* inp16) {
  if (L.w16p && !L.w16) fail("internal: a backward through weights packed for inference");
  const bool conv = L.layout == WeightLayout::kConv1D;
  // dinp (N,in) = dout (N,out) @ W^T: W^T is Conv1D [in,out] transposed, or Linear [out,in] as is.
  const GemmArgs gin{N, L.in, L.out, false, conv, accumulate_dinp};
  // dW: [in,out] += inp^T dout (Conv1D), or [out,in] += dout^T inp (Linear); fp32 accumulation.
  const GemmArgs gw = conv ? GemmArgs{L.in, L.out, N, true, false, true}
                           : GemmArgs{L.out, L.in, N, true, false, true};
  if (L.w16) {  // bf16 operands (mixed precision), fp32 results
    const uint16_t* dout16 = bf16_of(scratch_a, dout, N * L.out);
    if (dinp) gemm_bf16(dinp, dout16, L.w16, nullptr, gin);
    if (dw) {
      const uint16_t* in16 = inp16 ? inp16 : bf16_of(scratch_b, inp, N * L.in);
      if (conv)
        gemm_bf16(dw, in16, dout16, nullptr, gw);
      else
        gemm_bf16(dw, dout16, in16, nullptr, gw);
    }
  } else {
    if (dinp) gemm(dinp, dout, L.w, nullptr, gin);
    if (dw) {
      if (conv)
        gemm(dw, inp, dout, nullptr, gw);
      else
        gemm(dw, dout, inp, nullptr, gw);
    }
  }
  if (db) bias_backward(db, dout, static_cast<int>(N), static_cast<int>(L.out));
  if (L.lora.on()) {
    if (!inp) fail("internal: an adapter's backward needs its fp32 input");
    lora_backward(L, dinp, dout, inp, N);
  }
}

BlockWeights block_weights(const GPT2Config& c, const ParamTensors& p, const Bf16Weights* w16,
                           const LoraAdapter* lora, int l) {
  const int64_t C = c.n_embd;
  const LayerTensors& w = p.layers[l];
  const LayerViews<uint16_t>* v16 = w16 && !w16->plain.empty() ? &w16->views.layers[l] : nullptr;
  const auto conv = WeightLayout::kConv1D;
  BlockWeights b;
  b.ln1w = w.ln1w, b.ln1b = w.ln1b, b.ln2w = w.ln2w, b.ln2b = w.ln2b;
  b.qkv = {w.qkvw, v16 ? v16->qkvw : nullptr, nullptr, w.qkvb, C, 3 * C, conv, {}};
  b.attproj = {w.attprojw, v16 ? v16->attprojw : nullptr, nullptr, w.attprojb, C, C, conv, {}};
  b.fc = {w.fcw, v16 ? v16->fcw : nullptr, nullptr, w.fcb, C, 4 * C, conv, {}};
  b.fcproj = {w.fcprojw, v16 ? v16->fcprojw : nullptr, nullptr, w.fcprojb, 4 * C, C, conv, {}};
  if (w16 && !w16->packed.empty()) {
    Linear* ls[] = {&b.qkv, &b.attproj, &b.fc, &b.fcproj};
    for (int k = 0; k < 4; k++) ls[k]->w16p = &w16->packed[4 * l + k];
  }
  if (lora && lora->on()) {
    b.qkv.lora = lora->linear(l, kLoraQkv);
    b.attproj.lora = lora->linear(l, kLoraProj);
    b.fc.lora = lora->linear(l, kLoraFc);
    b.fcproj.lora = lora->linear(l, kLoraFcProj);
  }
  return b;
}

Linear head_weights(const GPT2Config& c, const ParamTensors& p, const Bf16Weights* w16,
                    const LoraAdapter* lora) {
  Linear h{p.lm_head, nullptr, nullptr, nullptr, c.n_embd, c.vocab, WeightLayout::kLinear, {}};
  if (w16 && !w16->plain.empty()) h.w16 = w16->views.lm_head;
  if (w16 && !w16->packed.empty()) h.w16p = &w16->packed[4 * static_cast<size_t>(c.n_layer)];
  if (lora && lora->on()) h.lora = lora->linear(c.n_layer, kLoraHead);
  return h;
}

void bf16_linears_pack(std::vector<PackedWeight>& packed, const GPT2Config& c,
                       const ParamTensors& p) {
  std::vector<Linear> ls;
  for (int l = 0; l < c.n_layer; l++) {
    const BlockWeights b = block_weights(c, p, nullptr, nullptr, l);
    ls.insert(ls.end(), {b.qkv, b.attproj, b.fc, b.fcproj});
  }
  ls.push_back(head_weights(c, p, nullptr, nullptr));
  packed.resize(ls.size());
  for (size_t i = 0; i < ls.size(); i++)  // op(W): Conv1D [in,out] as is, Linear [out,in] W^T
    packed[i].pack(ls[i].w, ls[i].in, ls[i].out, ls[i].layout != WeightLayout::kConv1D);
}

}  // namespace instruct
