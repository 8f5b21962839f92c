// One GPT-2 step: embedding, N pre-LN blocks, final LN, LM head on the rows that count, fused
// softmax/cross-entropy, and the backward in reverse. Every matmul goes through gemm().
#include "model/gpt2.hpp"

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"

namespace instruct {

GPT2 gpt2_create(const GPT2Config& c) {
  config_validate(c);
  GPT2 m;
  m.cfg = c;
  m.table = param_table(c);
  m.params.resize(param_count(m.table));
  m.params.zero();
  m.p = param_views(m.params.data(), c);
  return m;
}

void gpt2_init_random(GPT2& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const ParamSpec& s : m.table) {
    float* w = m.params.data() + s.offset;
    const bool is_norm_scale = s.kind == ParamKind::kNorm && s.name.ends_with(".weight");
    for (int64_t i = 0; i < s.numel; i++)
      w[i] = s.kind == ParamKind::kMatrix || s.kind == ParamKind::kEmbedding ? normal(rng)
             : is_norm_scale                                                ? 1.0f
                                                                            : 0.0f;
  }
}

void gpt2_zero_grad(GPT2& m) {
  if (m.grads.size() != m.params.size()) {
    m.grads.resize(m.params.size());
    m.g = param_views(m.grads.data(), m.cfg);
  }
  m.grads.zero();
}

namespace {

using Slots = std::vector<std::pair<float**, int64_t>>;

// Plans the activation layout for (B,T): where each tensor starts; returns the floats needed.
int64_t activations_plan(GPT2Activations& a, const GPT2Config& c, int B, int T, Slots& slots) {
  const int64_t C = c.n_embd, NH = c.n_head, V = c.vocab, L = c.n_layer;
  const int64_t BT = static_cast<int64_t>(B) * T;
  int64_t off = 0;
  a.layers.resize(L);
  auto take = [&](float** p, int64_t n) { slots.push_back({p, off}), off += (n + 15) / 16 * 16; };
  take(&a.encoded, BT * C);
  for (auto& l : a.layers) {
    take(&l.ln1, BT * C), take(&l.ln1_mean, BT), take(&l.ln1_rstd, BT);
    take(&l.qkv, BT * 3 * C), take(&l.atty, BT * C), take(&l.att, B * NH * T * static_cast<int64_t>(T));
    take(&l.residual2, BT * C), take(&l.ln2, BT * C), take(&l.ln2_mean, BT), take(&l.ln2_rstd, BT);
    take(&l.fch, BT * 4 * C), take(&l.fch_gelu, BT * 4 * C), take(&l.residual3, BT * C);
  }
  take(&a.lnf, BT * C), take(&a.lnf_mean, BT), take(&a.lnf_rstd, BT), take(&a.lnf_rows, BT * C);
  take(&a.logits, BT * V), take(&a.tmp_btc, BT * C);
  take(&a.dres, BT * C), take(&a.dqkv, BT * 3 * C), take(&a.dfch, BT * 4 * C), take(&a.dfch_gelu, BT * 4 * C);
  return off;
}

// Lays the activations out for (B,T) inside the arena, growing it when needed.
void activations_layout(GPT2& m, int B, int T) {
  Slots slots;
  const int64_t off = activations_plan(m.a, m.cfg, B, T, slots);
  if (m.arena.size() < off) m.arena.resize(off);
  for (auto& [p, o] : slots) *p = m.arena.data() + o;
  m.B = B, m.T = T;
}

// Linear layer on Conv1D weights: out (N,OC) = inp (N,IC) @ w (IC,OC) + b
void linear_forward(float* out, const float* inp, const float* w, const float* b, int64_t N,
                    int64_t IC, int64_t OC) {
  gemm(out, inp, w, b, {N, OC, IC, false, false, false});
}
// dinp (N,IC) = dout @ w^T (written, or added when accumulate); dw += inp^T @ dout; db += sum(dout)
void linear_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                     const float* w, int64_t N, int64_t IC, int64_t OC, bool accumulate_dinp) {
  gemm(dinp, dout, w, nullptr, {N, IC, OC, false, true, accumulate_dinp});
  gemm(dw, inp, dout, nullptr, {IC, OC, N, true, false, true});
  if (db) bias_backward(db, dout, static_cast<int>(N), static_cast<int>(OC));
}

}  // namespace

int64_t gpt2_activation_bytes(const GPT2Config& c, int B, int T) {
  GPT2Activations a;
  Slots slots;
  return activations_plan(a, c, B, T, slots) * static_cast<int64_t>(sizeof(float));
}

double gpt2_forward(GPT2& m, const int32_t* inputs, const int32_t* targets, int B, int T,
                    bool for_backward, int64_t loss_denominator) {
  const GPT2Config& c = m.cfg;
  const int C = c.n_embd, NH = c.n_head, V = c.vocab;
  if (T > c.n_ctx) fail("sequence length ", T, " exceeds the model context ", c.n_ctx, "; lower --max-length");
  for (int64_t i = 0; i < static_cast<int64_t>(B) * T; i++)
    if (inputs[i] < 0 || inputs[i] >= V) fail("token id ", inputs[i], " is outside the model vocabulary (", V, ")");
  activations_layout(m, B, T);
  const int64_t BT = static_cast<int64_t>(B) * T;
  m.inputs.assign(inputs, inputs + BT);
  GPT2Activations& a = m.a;

  encoder_forward(a.encoded, inputs, m.p.wte, m.p.wpe, B, T, C);
  const float* residual = a.encoded;
  for (int l = 0; l < c.n_layer; l++) {
    const LayerTensors& w = m.p.layers[l];
    GPT2Activations::Layer& s = a.layers[l];
    layernorm_forward(s.ln1, s.ln1_mean, s.ln1_rstd, residual, w.ln1w, w.ln1b, BT, C);
    linear_forward(s.qkv, s.ln1, w.qkvw, w.qkvb, BT, C, 3 * C);
    attention_forward(s.atty, s.att, s.qkv, B, T, C, NH);
    linear_forward(a.tmp_btc, s.atty, w.attprojw, w.attprojb, BT, C, C);
    residual_forward(s.residual2, residual, a.tmp_btc, BT * C);
    layernorm_forward(s.ln2, s.ln2_mean, s.ln2_rstd, s.residual2, w.ln2w, w.ln2b, BT, C);
    linear_forward(s.fch, s.ln2, w.fcw, w.fcb, BT, C, 4 * C);
    gelu_forward(s.fch_gelu, s.fch, BT * 4 * C);
    linear_forward(a.tmp_btc, s.fch_gelu, w.fcprojw, w.fcprojb, BT, 4 * C, C);
    residual_forward(s.residual3, s.residual2, a.tmp_btc, BT * C);
    residual = s.residual3;
  }
  layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, residual, m.p.lnfw, m.p.lnfb, BT, C);

  // LM head only on the rows that count: padding and masked prompts cost nothing.
  m.rows.clear();
  m.row_targets.clear();
  for (int64_t i = 0; i < BT; i++)
    if (!targets || targets[i] != -100) {
      m.rows.push_back(static_cast<int32_t>(i));
      m.row_targets.push_back(targets ? targets[i] : 0);
    }
  const int64_t R = static_cast<int64_t>(m.rows.size());
  m.have_dlogits = for_backward && targets;  // with R == 0 the backward is a no-op
  m.counted = targets ? R : 0;
  if (R == 0) return 0.0;
  const float* head_in = a.lnf;
  if (R < BT) {
#pragma omp parallel for
    for (int64_t r = 0; r < R; r++)
      std::memcpy(a.lnf_rows + r * C, a.lnf + static_cast<int64_t>(m.rows[r]) * C, sizeof(float) * C);
    head_in = a.lnf_rows;
  }
  gemm(a.logits, head_in, m.p.lm_head, nullptr, {R, V, C, false, true, false});
  if (!targets) return 0.0;
  int64_t counted = 0;
  if (for_backward) {
    return crossentropy_forward_backward(a.logits, m.row_targets.data(), static_cast<int>(R), V, &counted,
                                         loss_denominator);
  }
  return crossentropy_forward(a.logits, m.row_targets.data(), static_cast<int>(R), V, &counted);
}

void gpt2_backward(GPT2& m) {
  if (!m.have_dlogits) fail("internal: gpt2_backward without a training forward");
  if (m.grads.size() != m.params.size()) gpt2_zero_grad(m);
  const GPT2Config& c = m.cfg;
  const int B = m.B, T = m.T, C = c.n_embd, NH = c.n_head, V = c.vocab;
  const int64_t BT = static_cast<int64_t>(B) * T, R = static_cast<int64_t>(m.rows.size());
  GPT2Activations& a = m.a;
  ParamTensors& g = m.g;
  if (R == 0) return;

  // LM head: dW += dlogits^T @ rows; drows = dlogits @ W, scattered into dlnf (tmp_btc).
  const bool compact = R < BT;
  const float* head_in = compact ? a.lnf_rows : a.lnf;
  gemm(g.lm_head, a.logits, head_in, nullptr, {V, C, R, true, false, true});
  float* dlnf = a.tmp_btc;
  if (compact) {
    float* drows = a.dqkv;  // free until the first layer's backward
    gemm(drows, a.logits, m.p.lm_head, nullptr, {R, C, V, false, false, false});
    std::memset(dlnf, 0, sizeof(float) * BT * C);
    for (int64_t r = 0; r < R; r++)
      std::memcpy(dlnf + static_cast<int64_t>(m.rows[r]) * C, drows + r * C, sizeof(float) * C);
  } else {
    gemm(dlnf, a.logits, m.p.lm_head, nullptr, {R, C, V, false, false, false});
  }
  const float* last = c.n_layer ? a.layers.back().residual3 : a.encoded;
  std::memset(a.dres, 0, sizeof(float) * BT * C);
  layernorm_backward(a.dres, g.lnfw, g.lnfb, dlnf, last, m.p.lnfw, a.lnf_mean, a.lnf_rstd, BT, C);

  // dres holds dloss/d(layer output); each residual passes it through unchanged.
  for (int l = c.n_layer - 1; l >= 0; l--) {
    const LayerTensors& w = m.p.layers[l];
    LayerTensors& dw = g.layers[l];
    const GPT2Activations::Layer& s = a.layers[l];
    const float* residual = l == 0 ? a.encoded : a.layers[l - 1].residual3;
    float* dbtc = a.tmp_btc;
    // MLP
    linear_backward(a.dfch_gelu, dw.fcprojw, dw.fcprojb, a.dres, s.fch_gelu, w.fcprojw, BT, 4 * C, C, false);
    std::memset(a.dfch, 0, sizeof(float) * BT * 4 * C);
    gelu_backward(a.dfch, s.fch, a.dfch_gelu, BT * 4 * C);
    linear_backward(dbtc, dw.fcw, dw.fcb, a.dfch, s.ln2, w.fcw, BT, C, 4 * C, false);
    layernorm_backward(a.dres, dw.ln2w, dw.ln2b, dbtc, s.residual2, w.ln2w, s.ln2_mean, s.ln2_rstd, BT, C);
    // attention
    linear_backward(dbtc, dw.attprojw, dw.attprojb, a.dres, s.atty, w.attprojw, BT, C, C, false);
    std::memset(a.dqkv, 0, sizeof(float) * BT * 3 * C);
    attention_backward(a.dqkv, dbtc, s.qkv, s.att, B, T, C, NH);
    linear_backward(dbtc, dw.qkvw, dw.qkvb, a.dqkv, s.ln1, w.qkvw, BT, C, 3 * C, false);
    layernorm_backward(a.dres, dw.ln1w, dw.ln1b, dbtc, residual, w.ln1w, s.ln1_mean, s.ln1_rstd, BT, C);
  }
  encoder_backward(g.wte, g.wpe, a.dres, m.inputs.data(), B, T, C);
}

}  // namespace instruct
