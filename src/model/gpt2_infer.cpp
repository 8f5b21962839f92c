// The inference forward: the same layers as gpt2_forward on packed rows, attention from the cache.
#include "model/gpt2_infer.hpp"

#include <omp.h>

#include <cstring>

#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"

namespace instruct {

KVCache kv_cache_create(const GPT2Config& c, int32_t slots, int32_t max_len) {
  if (slots < 1 || max_len < 1 || max_len > c.n_ctx)
    fail("internal: KV cache of ", slots, " slots x ", max_len, " positions (context ", c.n_ctx, ")");
  KVCache kv;
  kv.slots = slots;
  kv.layout = {c.n_head, c.n_embd / c.n_head, max_len};
  const int64_t n = static_cast<int64_t>(c.n_layer) * slots * kv.layout.slot_stride();
  kv.k.resize(n);
  kv.v.resize(n);
  kv.len.assign(slots, 0);
  return kv;
}

namespace {

// Prefill row counts vary per prompt; rounding the GEMM rows keeps the oneDNN primitive cache to a
// few shapes (the extra rows are scratch, computed and ignored).
int64_t gemm_rows(int64_t n) { return n <= 32 ? n : (n + 63) / 64 * 64; }

void scratch_reserve(InferScratch& s, const GPT2Config& c, int64_t rows, int64_t chunks) {
  if (rows <= s.rows && chunks <= s.chunks && s.attn) return;
  s.rows = std::max(rows, s.rows), s.chunks = std::max(chunks, s.chunks);
  const int64_t C = c.n_embd, R = s.rows, K = s.chunks, nt = omp_get_max_threads();
  int64_t off = 0;
  std::vector<std::pair<float**, int64_t>> slots;
  auto take = [&](float** p, int64_t n) { slots.push_back({p, off}), off += (n + 15) / 16 * 16; };
  take(&s.x, R * C), take(&s.ln, R * C), take(&s.mean, R), take(&s.rstd, R), take(&s.qkv, R * 3 * C);
  take(&s.atty, R * C), take(&s.tmp, R * C), take(&s.fch, R * 4 * C), take(&s.fchg, R * 4 * C);
  take(&s.attn, nt * static_cast<int64_t>(c.n_ctx)), take(&s.lastx, K * C), take(&s.logits, K * c.vocab);
  s.buf.resize(off);
  s.buf.zero();
  for (auto& [p, o] : slots) *p = s.buf.data() + o;
}

// out (rows,OC) = in (rows,IC) @ w (+ b): fp32, or bf16 operands when the model has a bf16 copy.
void linear(GPT2& m, InferScratch& s, float* out, const float* in, const float* w, const float* b, int64_t rows,
            int64_t IC, int64_t OC, bool trans_w) {
  const GemmArgs g{rows, OC, IC, false, trans_w, false};
  if (m.params_bf16.empty()) return gemm(out, in, w, b, g);
  if (static_cast<int64_t>(s.a16.size()) < rows * IC) s.a16.resize(rows * IC);
  to_bf16(s.a16.data(), in, rows * IC);
  gemm_bf16(out, s.a16.data(), m.params_bf16.data() + (w - m.params.data()), b, g);
}

}  // namespace

void gpt2_use_bf16(GPT2& m, bool on) {
  m.params_bf16.clear();
  if (!on) return;
  m.params_bf16.resize(m.params.size());
  to_bf16(m.params_bf16.data(), m.params.data(), static_cast<int64_t>(m.params.size()));
}

const float* gpt2_infer(GPT2& m, KVCache& kv, InferScratch& s, std::span<const SeqChunk> chunks) {
  const GPT2Config& c = m.cfg;
  const int64_t C = c.n_embd, V = c.vocab;
  int64_t N = 0;
  for (const SeqChunk& ch : chunks) {
    if (ch.slot < 0 || ch.slot >= kv.slots || ch.n < 1 || kv.len[ch.slot] + ch.n > kv.layout.max_len)
      fail("internal: chunk of ", ch.n, " tokens for slot ", ch.slot, " (cached ", ch.slot >= 0 && ch.slot < kv.slots ? kv.len[ch.slot] : -1,
           ", room ", kv.layout.max_len, ")");
    N += ch.n;
  }
  if (N == 0) return nullptr;
  const int64_t NG = gemm_rows(N), K = static_cast<int64_t>(chunks.size());
  scratch_reserve(s, c, NG, K);
  s.slot.resize(N), s.pos.resize(N), s.tok.resize(N), s.last.resize(K);
  int64_t r = 0;
  for (int64_t i = 0; i < K; i++) {
    const SeqChunk& ch = chunks[i];
    for (int32_t j = 0; j < ch.n; j++, r++) {
      if (ch.tokens[j] < 0 || ch.tokens[j] >= V) fail("token id ", ch.tokens[j], " is outside the model vocabulary (", V, ")");
      s.slot[r] = ch.slot, s.pos[r] = kv.len[ch.slot] + j, s.tok[r] = ch.tokens[j];
    }
    s.last[i] = static_cast<int32_t>(r - 1);
  }
#pragma omp parallel for
  for (int64_t i = 0; i < N; i++) {
    const float* te = m.p.wte + static_cast<int64_t>(s.tok[i]) * C;
    const float* pe = m.p.wpe + static_cast<int64_t>(s.pos[i]) * C;
    for (int64_t j = 0; j < C; j++) s.x[i * C + j] = te[j] + pe[j];
  }
  const int64_t layer_stride = static_cast<int64_t>(kv.slots) * kv.layout.slot_stride();
  for (int l = 0; l < c.n_layer; l++) {
    const LayerTensors& w = m.p.layers[l];
    float* kc = kv.k.data() + l * layer_stride;
    float* vc = kv.v.data() + l * layer_stride;
    layernorm_forward(s.ln, s.mean, s.rstd, s.x, w.ln1w, w.ln1b, static_cast<int>(N), static_cast<int>(C));
    linear(m, s, s.qkv, s.ln, w.qkvw, w.qkvb, NG, C, 3 * C, false);
    kv_store(kc, vc, s.qkv, s.slot.data(), s.pos.data(), static_cast<int>(N), kv.layout);
    attention_cached(s.atty, s.qkv, kc, vc, s.slot.data(), s.pos.data(), static_cast<int>(N), kv.layout, s.attn);
    linear(m, s, s.tmp, s.atty, w.attprojw, w.attprojb, NG, C, C, false);
    residual_forward(s.x, s.x, s.tmp, N * C);
    layernorm_forward(s.ln, s.mean, s.rstd, s.x, w.ln2w, w.ln2b, static_cast<int>(N), static_cast<int>(C));
    linear(m, s, s.fch, s.ln, w.fcw, w.fcb, NG, C, 4 * C, false);
    gelu_forward(s.fchg, s.fch, N * 4 * C);
    linear(m, s, s.tmp, s.fchg, w.fcprojw, w.fcprojb, NG, 4 * C, C, false);
    residual_forward(s.x, s.x, s.tmp, N * C);
  }
  for (int64_t i = 0; i < K; i++) std::memcpy(s.ln + i * C, s.x + s.last[i] * C, sizeof(float) * C);
  layernorm_forward(s.lastx, s.mean, s.rstd, s.ln, m.p.lnfw, m.p.lnfb, static_cast<int>(K), static_cast<int>(C));
  linear(m, s, s.logits, s.lastx, m.p.lm_head, nullptr, K, C, V, true);
  for (const SeqChunk& ch : chunks) kv.len[ch.slot] += ch.n;
  return s.logits;
}

}  // namespace instruct
