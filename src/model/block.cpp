// The linear seam: layouts become GEMM transposes, each weight type its own GEMM (the backend's).
// Nothing else in the model runs a GEMM for a weight.
#include "model/block.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "backend/backend.hpp"
#include "core/error.hpp"

namespace instruct {

namespace {

// The backend's scratch slots: a bf16 GEMM's rounded operands, the adapter's activations.
enum Scratch { kBf16A = 0, kBf16B = 1, kLoraU = 2, kLoraDu = 3 };

// The operands of a bf16 GEMM: activations and gradients rounded into reused per-thread scratch.
const uint16_t* bf16_of(Scratch slot, const float* x, int64_t n) {
  auto* buf = static_cast<uint16_t*>(backend().scratch(slot, n * 2));
  backend().to_bf16(buf, x, n);
  return buf;
}

float* scratch_floats(Scratch slot, int64_t n) {
  return static_cast<float*>(backend().scratch(slot, n * static_cast<int64_t>(sizeof(float))));
}

// u (N,R) = alpha * inp A^T: the adapter's low-rank activations (R = pieces * r).
float* lora_down(const Linear& L, const float* inp, int64_t N) {
  const LoraLinear& a = L.lora;
  const int64_t R = a.pieces * a.rank;
  float* u = scratch_floats(kLoraU, N * R);
  backend().gemm_f32(u, inp, a.A, nullptr, {N, R, L.in, false, true, false});
  backend().scale(u, a.alpha, N * R);
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
    backend().gemm_f32(out + j * op, u + j * a.rank, a.B + j * op * a.rank, nullptr, g);
  }
}

// The adapter's backward: dB += dout^T u, du = alpha * dout B, dA += du^T inp, dinp += du A.
void lora_backward(const Linear& L, float* dinp, const float* dout, const float* inp, int64_t N) {
  const LoraLinear& a = L.lora;
  const int64_t R = a.pieces * a.rank, op = L.out / a.pieces;
  const float* u = lora_down(L, inp, N);  // recomputed: N x R, cheaper than keeping it per layer
  float* du = scratch_floats(kLoraDu, N * R);
  for (int j = 0; j < a.pieces; j++) {
    const float* dout_j = dout + j * op;
    if (a.dB) {
      GemmArgs g{op, a.rank, N, true, false, true};
      g.lda = L.out, g.ldb = R;
      backend().gemm_f32(a.dB + j * op * a.rank, dout_j, u + j * a.rank, nullptr, g);
    }
    GemmArgs g{N, a.rank, op, false, false, false};
    g.lda = L.out, g.ldc = R;
    backend().gemm_f32(du + j * a.rank, dout_j, a.B + j * op * a.rank, nullptr, g);
  }
  backend().scale(du, a.alpha, N * R);
  if (a.dA) backend().gemm_f32(a.dA, du, inp, nullptr, {R, L.in, N, true, false, true});
  if (dinp) backend().gemm_f32(dinp, du, a.A, nullptr, {N, L.in, R, false, false, true});
}

}  // namespace

void linear_forward(const Linear& L, float* out, const float* inp, int64_t N, const uint16_t* inp16,
                    int64_t ldo) {
  const WeightRef& w = L.w;
  GemmArgs g{N, L.out, L.in, false, w.layout != WeightLayout::kConv1D, false};
  g.ldc = ldo == L.out ? 0 : ldo;
  if (g.ldc && (w.dtype == DType::kQ8_0 || L.lora.on()))
    fail("internal: a strided output with ", L.lora.on() ? "an adapter" : "Q8_0 weights");
  switch (w.dtype) {
    case DType::kF32:
      backend().gemm_f32(out, inp, w.f32(), L.b, g);
      break;
    case DType::kBF16: {
      const uint16_t* in16 = inp16 ? inp16 : bf16_of(kBf16A, inp, N * L.in);
      if (w.packed)
        backend().gemm_bf16_packed(out, in16, *w.packed, L.b, g);
      else
        backend().gemm_bf16(out, in16, w.bf16(), L.b, g);
      break;
    }
    case DType::kQ8_0:
      backend().gemm_q8_0(out, inp, w.q8(), L.b, N, L.out, L.in);
      break;
  }
  if (L.lora.on()) lora_forward(L, out, inp, N);
}

void linear_backward(const Linear& L, float* dinp, float* dw, float* db, const float* dout,
                     const float* inp, int64_t N, bool accumulate_dinp, const uint16_t* inp16,
                     const uint16_t* dout16, int64_t ldd, bool accumulate_dw) {
  const WeightRef& w = L.w;
  if (!w.data || w.dtype == DType::kQ8_0)
    fail("internal: a backward through ", dtype_name(w.dtype), " weights made for inference");
  const bool conv = w.layout == WeightLayout::kConv1D;
  // dinp (N,in) = dout (N,out) @ W^T: W^T is Conv1D [in,out] transposed, or Linear [out,in] as is.
  GemmArgs gin{N, L.in, L.out, false, conv, accumulate_dinp};
  // dW: [in,out] += inp^T dout (Conv1D), or [out,in] += dout^T inp (Linear); fp32 accumulation.
  GemmArgs gw = conv ? GemmArgs{L.in, L.out, N, true, false, accumulate_dw}
                     : GemmArgs{L.out, L.in, N, true, false, accumulate_dw};
  if (ldd && ldd != L.out) {  // dout is some columns of a wider matrix
    if (db || L.lora.on()) fail("internal: a strided gradient with a bias or an adapter");
    gin.lda = ldd;
    (conv ? gw.ldb : gw.lda) = ldd;
  }
  if (w.dtype == DType::kBF16) {  // bf16 operands (mixed precision), fp32 results
    if (!dout16) dout16 = bf16_of(kBf16A, dout, N * L.out);
    if (dinp) backend().gemm_bf16(dinp, dout16, w.bf16(), nullptr, gin);
    if (dw) {
      const uint16_t* in16 = inp16 ? inp16 : bf16_of(kBf16B, inp, N * L.in);
      if (conv)
        backend().gemm_bf16(dw, in16, dout16, nullptr, gw);
      else
        backend().gemm_bf16(dw, dout16, in16, nullptr, gw);
    }
  } else {
    if (dinp) backend().gemm_f32(dinp, dout, w.f32(), nullptr, gin);
    if (dw) {
      if (conv)
        backend().gemm_f32(dw, inp, dout, nullptr, gw);
      else
        backend().gemm_f32(dw, dout, inp, nullptr, gw);
    }
  }
  if (db) backend().bias_backward(db, dout, static_cast<int>(N), static_cast<int>(L.out));
  if (L.lora.on()) {
    if (!inp) fail("internal: an adapter's backward needs its fp32 input");
    lora_backward(L, dinp, dout, inp, N);
  }
}

namespace {

std::array<WeightSource, 4> layer_sources(const GPT2Config& c, const LayerTensors& w) {
  const int64_t C = c.n_embd;
  const auto conv = WeightLayout::kConv1D;
  return {{{w.qkvw, C, 3 * C, conv},
           {w.attprojw, C, C, conv},
           {w.fcw, C, 4 * C, conv},
           {w.fcprojw, 4 * C, C, conv}}};
}

WeightSource head_source(const GPT2Config& c, const ParamTensors& p) {
  return {p.lm_head, c.n_embd, c.vocab, WeightLayout::kLinear};
}

// Linear i of linear_sources as `typed` runs it: its inference reference, or `w16` (bf16
// training: its weight cast just in time), or the fp32 parameter.
Linear linear_of(const WeightSource& s, size_t i, const uint16_t* w16, const float* bias,
                 const TypedWeights* typed) {
  Linear L{{DType::kF32, s.w, nullptr, s.layout}, bias, s.in, s.out, {}};
  if (typed && !typed->refs.empty())
    L.w = typed->refs[i];
  else if (w16)
    L.w = {DType::kBF16, w16, nullptr, s.layout};
  return L;
}

bool training16(const TypedWeights* typed) {
  return typed && typed->prec.training;
}

}  // namespace

std::vector<WeightSource> linear_sources(const GPT2Config& c, const ParamTensors& p) {
  std::vector<WeightSource> s;
  for (const LayerTensors& w : p.layers) {
    const auto l = layer_sources(c, w);
    s.insert(s.end(), l.begin(), l.end());
  }
  s.push_back(head_source(c, p));
  return s;
}

BlockWeights block_weights(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                           const LoraAdapter* lora, int l) {
  const LayerTensors& w = p.layers[l];
  const auto src = layer_sources(c, w);
  std::array<const uint16_t*, 4> w16{};
  if (training16(typed)) w16 = typed_training_layer(*typed, src, l);
  BlockWeights b;
  b.ln1w = w.ln1w, b.ln1b = w.ln1b, b.ln2w = w.ln2w, b.ln2b = w.ln2b;
  const size_t i = 4 * static_cast<size_t>(l);
  b.qkv = linear_of(src[0], i, w16[0], w.qkvb, typed);
  b.attproj = linear_of(src[1], i + 1, w16[1], w.attprojb, typed);
  b.fc = linear_of(src[2], i + 2, w16[2], w.fcb, typed);
  b.fcproj = linear_of(src[3], i + 3, w16[3], w.fcprojb, typed);
  if (lora && lora->on()) {
    b.qkv.lora = lora->linear(l, kLoraQkv);
    b.attproj.lora = lora->linear(l, kLoraProj);
    b.fc.lora = lora->linear(l, kLoraFc);
    b.fcproj.lora = lora->linear(l, kLoraFcProj);
  }
  return b;
}

Linear head_weights(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                    const LoraAdapter* lora) {
  const WeightSource s = head_source(c, p);
  Linear h =
      linear_of(s, 4 * static_cast<size_t>(c.n_layer),
                training16(typed) ? typed_training_head(*typed, s) : nullptr, nullptr, typed);
  if (lora && lora->on()) h.lora = lora->linear(c.n_layer, kLoraHead);
  return h;
}

namespace {

// bf16 training without a head adapter (whose path needs the whole fp32 gradient): the head in
// chunks of rows.
bool head_in_chunks(const GPT2Config& c, const TypedWeights* typed, const LoraAdapter* lora) {
  return training16(typed) && !(lora && lora->on() && lora->linear(c.n_layer, kLoraHead).on());
}

// Rows [v0, v0 + rows) of the head as a linear of their own, cast now (chunk k of the head).
Linear head_rows(const GPT2Config& c, const ParamTensors& p, const TypedWeights& typed, int k,
                 int64_t v0, int64_t rows) {
  const WeightSource s{p.lm_head + v0 * c.n_embd, c.n_embd, rows, WeightLayout::kLinear};
  return {{DType::kBF16, typed_training_rows(typed, s, k, c.n_layer), nullptr, s.layout},
          nullptr,
          s.in,
          s.out,
          {}};
}

// Rows per chunk: a layer's weights' worth (12 C^2).
int64_t head_chunk(const GPT2Config& c) {
  return 12 * static_cast<int64_t>(c.n_embd);
}

}  // namespace

void park_training_weights(const GPT2Config& c, const ParamTensors& p, ParamTensors& g,
                           const TypedWeights& typed) {
  if (!training16(&typed)) fail("internal: parking bf16 weights of a model not training in bf16");
  std::vector<std::pair<WeightSource, float*>> at;  // what is cast, and the gradient it goes into
  for (int l = 0; l < c.n_layer; l++) {
    const auto src = layer_sources(c, p.layers[l]);
    LayerTensors& d = g.layers[l];
    float* home[4] = {d.qkvw, d.attprojw, d.fcw, d.fcprojw};
    for (int i = 0; i < 4; i++) at.push_back({src[i], home[i]});
  }
  const int64_t V = c.vocab, C = c.n_embd, step = head_chunk(c);
  for (int64_t v0 = 0; v0 < V; v0 += step)
    at.push_back({{p.lm_head + v0 * C, C, std::min(step, V - v0), WeightLayout::kLinear},
                  g.lm_head + v0 * C});
  std::vector<const uint16_t*>& parked = typed.jit.parked;
  parked.clear();
  for (const auto& [s, grad] : at) {
    auto* w16 = reinterpret_cast<uint16_t*>(grad);  // in the first half of the gradient's bytes
    backend().to_bf16(w16, s.w, s.in * s.out);
    parked.push_back(w16);
  }
}

void head_forward(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                  const LoraAdapter* lora, float* logits, const float* inp, int64_t N) {
  if (!head_in_chunks(c, typed, lora))
    return linear_forward(head_weights(c, p, typed, lora), logits, inp, N);
  const int64_t V = c.vocab, step = head_chunk(c);
  const uint16_t* in16 = bf16_of(kBf16B, inp, N * c.n_embd);
  for (int64_t v0 = 0, k = 0; v0 < V; v0 += step, k++)
    linear_forward(head_rows(c, p, *typed, static_cast<int>(k), v0, std::min(step, V - v0)),
                   logits + v0, inp, N, in16, V);
}

void head_backward(const GPT2Config& c, const ParamTensors& p, const TypedWeights* typed,
                   const LoraAdapter* lora, float* dinp, float* dw, float* dlogits,
                   const float* inp, int64_t N, bool accumulate_dw) {
  const int64_t V = c.vocab, C = c.n_embd;
  if (!head_in_chunks(c, typed, lora)) {
    const Linear h = head_weights(c, p, typed, lora);
    const uint16_t* d16 = nullptr;  // bf16: narrowed in place (the logits are spent)
    if (h.w.dtype == DType::kBF16 && !h.lora.on()) d16 = backend().to_bf16_in_place(dlogits, N * V);
    return linear_backward(h, dinp, dw, nullptr, d16 ? nullptr : dlogits, inp, N, false, nullptr,
                           d16, 0, accumulate_dw);
  }
  const uint16_t* d16 = backend().to_bf16_in_place(dlogits, N * V);
  const uint16_t* in16 = bf16_of(kBf16B, inp, N * C);
  const int64_t step = head_chunk(c);
  for (int64_t v0 = 0, k = 0; v0 < V; v0 += step, k++)
    linear_backward(head_rows(c, p, *typed, static_cast<int>(k), v0, std::min(step, V - v0)), dinp,
                    dw ? dw + v0 * C : nullptr, nullptr, nullptr, inp, N, v0 > 0, in16, d16 + v0, V,
                    accumulate_dw);
}

}  // namespace instruct
