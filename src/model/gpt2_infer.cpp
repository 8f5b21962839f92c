// The inference forward: the same block body as gpt2_forward on packed rows, attention from the
// cache.
#include "model/gpt2_infer.hpp"

#include <omp.h>

#include <type_traits>

#include "backend/backend.hpp"
#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "model/block.hpp"

namespace instruct {

KVCache kv_cache_create(const GPT2Config& c, int32_t slots, int32_t max_len, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16)
    fail("a KV cache in ", dtype_name(dtype), " is not supported; use fp32 or bf16");
  if (slots < 1 || max_len < 1 || max_len > c.n_ctx)
    fail("internal: KV cache of ", slots, " slots x ", max_len, " positions (context ", c.n_ctx,
         ")");
  KVCache kv;
  kv.slots = slots;
  kv.layout = {c.n_head, c.n_embd / c.n_head, max_len};
  kv.bf16 = dtype == DType::kBF16;
  const int64_t n = static_cast<int64_t>(c.n_layer) * slots * kv.layout.slot_stride();
  const int64_t floats = kv.bf16 ? (n + 1) / 2 : n;
  kv.k.resize(floats, false);  // filled slot by slot, position by position: small pages
  kv.v.resize(floats, false);
  kv.len.assign(slots, 0);
  return kv;
}

void kv_cache_copy(KVCache& kv, int32_t from, int32_t to) {
  if (from == to) return;
  const KVLayout& L = kv.layout;
  const int64_t n = static_cast<int64_t>(kv.len[from]) * L.head_size, eb = kv.entry_bytes();
  const int64_t layers = kv.k.size() * 4 / eb / (static_cast<int64_t>(kv.slots) * L.slot_stride());
  char* K = reinterpret_cast<char*>(kv.k.data());
  char* V = reinterpret_cast<char*>(kv.v.data());
  for (int64_t l = 0; l < layers; l++)
    for (int32_t h = 0; h < L.n_head; h++) {
      const int64_t base = l * kv.slots * L.slot_stride() + h * L.head_stride();
      const int64_t src = (base + from * L.slot_stride()) * eb,
                    dst = (base + to * L.slot_stride()) * eb;
      backend().copy(K + dst, K + src, n * eb);
      backend().copy(V + dst, V + src, n * eb);
    }
  kv.len[to] = kv.len[from];
}

namespace {

// Prefill row counts vary per prompt; rounding the GEMM rows keeps the oneDNN primitive cache to a
// few shapes (the extra rows are scratch, computed and ignored).
int64_t gemm_rows(int64_t n) {
  return n <= 32 ? n : (n + 63) / 64 * 64;
}

void scratch_reserve(InferScratch& s, const GPT2Config& c, int64_t rows, int64_t chunks) {
  if (rows <= s.rows && chunks <= s.chunks && s.attn) return;
  s.rows = std::max(rows, s.rows), s.chunks = std::max(chunks, s.chunks);
  const int64_t C = c.n_embd, R = s.rows, K = s.chunks, nt = omp_get_max_threads();
  int64_t off = 0;
  std::vector<std::pair<float**, int64_t>> slots;
  auto take = [&](float** p, int64_t n) { slots.push_back({p, off}), off += (n + 15) / 16 * 16; };
  take(&s.x, R * C), take(&s.ln, R * C), take(&s.mean, R), take(&s.rstd, R),
      take(&s.qkv, R * 3 * C);
  take(&s.atty, R * C), take(&s.tmp, R * C), take(&s.fch, R * 4 * C), take(&s.fchg, R * 4 * C);
  take(&s.attn, nt * static_cast<int64_t>(c.n_ctx)), take(&s.lastx, K * C),
      take(&s.logits, K * c.vocab);
  s.buf.resize(off);
  s.buf.zero();
  for (auto& [p, o] : slots) *p = s.buf.data() + o;
}

}  // namespace

const float* gpt2_infer(ModelRef m, KVCache& kv, InferScratch& s,
                        std::span<const SeqChunk> chunks) {
  const GPT2Config& c = m.cfg();
  const ParamTensors& p = m.base.p;
  const int64_t C = c.n_embd, V = c.vocab;
  int64_t N = 0, K = 0;
  for (const SeqChunk& ch : chunks) {
    if (ch.slot < 0 || ch.slot >= kv.slots || ch.n < 1 || ch.logits < 1 || ch.logits > ch.n ||
        kv.len[ch.slot] + ch.n > kv.layout.max_len)
      fail("internal: chunk of ", ch.n, " tokens for slot ", ch.slot, " (cached ",
           ch.slot >= 0 && ch.slot < kv.slots ? kv.len[ch.slot] : -1, ", room ", kv.layout.max_len,
           ")");
    N += ch.n, K += ch.logits;
  }
  if (N == 0) return nullptr;
  const int64_t NG = gemm_rows(N);
  scratch_reserve(s, c, NG, K);
  s.slot.resize(N), s.pos.resize(N), s.tok.resize(N), s.last.resize(K);
  int64_t r = 0, k = 0;
  for (const SeqChunk& ch : chunks) {
    for (int32_t j = 0; j < ch.n; j++, r++) {
      if (ch.tokens[j] < 0 || ch.tokens[j] >= V)
        fail("token id ", ch.tokens[j], " is outside the model vocabulary (", V, ")");
      s.slot[r] = ch.slot, s.pos[r] = kv.len[ch.slot] + j, s.tok[r] = ch.tokens[j];
    }
    for (int32_t j = ch.logits; j >= 1; j--) s.last[k++] = static_cast<int32_t>(r - j);
  }
  const Backend& be = backend();
  be.encoder_forward(s.x, s.tok.data(), p.wte, p.wpe, 1, static_cast<int>(N), static_cast<int>(C),
                     s.pos.data());
  const int64_t layer_stride = static_cast<int64_t>(kv.slots) * kv.layout.slot_stride();
  // The residual stream stays in s.x (res2 and res3 point at it); the other buffers are reused.
  BlockActs io{s.ln,   s.mean, s.rstd, s.qkv,  s.atty, s.x,  s.ln,
               s.mean, s.rstd, s.fch,  s.fchg, s.x,    s.tmp};
  for (int l = 0; l < c.n_layer; l++) {
    auto attend = [&](auto* kc, auto* vc) {
      return [&, kc, vc](float* atty, const float* qkv) {
        const int n = static_cast<int>(N);
        if constexpr (std::is_same_v<decltype(kc), float*>) {
          be.kv_store_f32(kc, vc, qkv, s.slot.data(), s.pos.data(), n, kv.layout);
          be.attention_cached_f32(atty, qkv, kc, vc, s.slot.data(), s.pos.data(), n, kv.layout,
                                  s.attn);
        } else {
          be.kv_store_bf16(kc, vc, qkv, s.slot.data(), s.pos.data(), n, kv.layout);
          be.attention_cached_bf16(atty, qkv, kc, vc, s.slot.data(), s.pos.data(), n, kv.layout,
                                   s.attn);
        }
      };
    };
    const BlockWeights w = gpt2_block_weights(m, l);
    if (kv.bf16) {
      uint16_t* k16 = reinterpret_cast<uint16_t*>(kv.k.data()) + l * layer_stride;
      uint16_t* v16 = reinterpret_cast<uint16_t*>(kv.v.data()) + l * layer_stride;
      block_forward(w, io, s.x, N, NG, static_cast<int>(C), attend(k16, v16));
    } else {
      block_forward(w, io, s.x, N, NG, static_cast<int>(C),
                    attend(kv.k.data() + l * layer_stride, kv.v.data() + l * layer_stride));
    }
  }
  be.gather_rows(s.ln, s.x, s.last.data(), K, C);
  be.layernorm_forward(s.lastx, s.mean, s.rstd, s.ln, p.lnfw, p.lnfb, static_cast<int>(K),
                       static_cast<int>(C));
  gpt2_head_forward(m, s.logits, s.lastx, K);
  for (const SeqChunk& ch : chunks) kv.len[ch.slot] += ch.n;
  return s.logits;
}

}  // namespace instruct
