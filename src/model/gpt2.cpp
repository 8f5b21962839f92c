// One GPT-2 step: embedding, N pre-LN blocks (the shared block body), final LN, LM head on the
// selected rows; the cross-entropy head; the backward in reverse. Every matmul goes through the
// linear seam.
#include "model/gpt2.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "backend/backend.hpp"
#include "core/error.hpp"
#include "core/sys.hpp"
#include "model/block.hpp"

namespace instruct {

GPT2 gpt2_create(const GPT2Config& c) {
  config_validate(c);
  GPT2 m;
  m.cfg = c;
  std::vector<ParamSpec> table = param_table(c);
  // Refuse before allocating: a config with a huge size would end in std::bad_alloc.
  const double need = static_cast<double>(param_count(table)) * sizeof(float);
  const int64_t avail = memory_available_bytes();
  if (avail > 0 && need > static_cast<double>(avail))
    fail("the model (", c.n_layer, " layers, ", c.n_embd, " wide, vocabulary ", c.vocab, ") needs ",
         need / (1 << 30), " GiB for its weights alone, but only ",
         static_cast<double>(avail) / (1 << 30), " GiB are available; check its config.json");
  m.w = param_block_create(std::move(table));
  m.p = param_views(m.w.params.data(), m.w.table, c);
  return m;
}

GPT2 gpt2_clone_params(const GPT2& m) {
  GPT2 c = gpt2_create(m.cfg);
  backend().copy(c.w.params.data(), m.w.params.data(), sizeof(float) * m.w.size());
  return c;
}

void gpt2_init_random(GPT2& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const ParamSpec& s : m.w.table) {
    float* w = m.w.params.data() + s.offset;
    for (int64_t i = 0; i < s.numel; i++)
      w[i] = s.kind == ParamKind::kMatrix || s.kind == ParamKind::kEmbedding ? normal(rng)
             : s.kind == ParamKind::kNormScale                               ? 1.0f
                                                                             : 0.0f;
  }
}

void gpt2_use_fused_grads(GPT2& m) {
  std::vector<ParamSpec> remap = m.w.table;
  m.layer_specs.assign(m.cfg.n_layer, {0, 0});
  std::vector<int> layer_of(remap.size(), -1);
  for (size_t i = 0; i < remap.size(); i++) {
    const std::string& n = remap[i].name;
    if (n.rfind("h.", 0) != 0) continue;
    const int l = std::stoi(n.substr(2));
    layer_of[i] = l;
    auto& r = m.layer_specs[l];
    if (r.second == 0)
      r.first = i;
    else if (r.second != i)
      fail("internal: layer ", l, "'s tensors are not contiguous in the table");
    r.second = i + 1;
  }
  int64_t off = 0;  // the tensors outside the layers, packed
  for (size_t i = 0; i < remap.size(); i++)
    if (layer_of[i] < 0) remap[i].offset = off, off += remap[i].numel;
  const int64_t slot = off;
  int64_t layer = 0;
  for (size_t i = 0; i < remap.size(); i++)
    if (layer_of[i] >= 0) {
      const size_t first = m.layer_specs[layer_of[i]].first;
      remap[i].offset = slot + (m.w.table[i].offset - m.w.table[first].offset);
      layer = std::max(layer, remap[i].offset + remap[i].numel - slot);
    }
  m.w.grads = Buffer();
  m.grads_fresh = false;
  typed_training_stale(m.typed);  // nothing parked in the gradients that went
  m.fused_grads.resize(slot + layer);
  m.fused_grads.zero();
  m.g = param_views(m.fused_grads.data(), remap, m.cfg);
}

void gpt2_zero_grad(GPT2& m, LoraAdapter* lora) {
  if (m.fp32_released) fail("internal: training a model whose fp32 linears were released");
  if (lora && lora->on()) return lora_zero_grads(*lora);
  if (m.fused_grads.size()) return m.fused_grads.zero();
  if (!m.w.has_grads()) {
    m.w.grads.resize(m.w.size());
    m.g = param_views(m.w.grads.data(), m.w.table, m.cfg);
  }
  if (m.grads_fresh) return;  // still nothing in them (and the parked weights are current)
  m.grads_fresh = true;
  if (gpt2_precision(m).training) park_training_weights(m.cfg, m.p, m.g, m.typed);
}

void gpt2_grads_final(GPT2& m, LoraAdapter* lora) {
  if ((lora && lora->on()) || !m.grads_fresh) return;
  typed_training_stale(m.typed);  // the parked weights are zeroed
  m.w.grads.zero();
  m.grads_fresh = false;
}

void gpt2_set_precision(GPT2& m, Precision prec) {
  if (m.fp32_released && prec != m.typed.prec)
    fail("internal: the model's fp32 linears were released; load it again for another precision");
  if (prec.training && (prec.linears != DType::kBF16 || prec.head != DType::kBF16))
    fail("internal: training runs in fp32 or bf16");
  if (prec != m.typed.prec) m.typed = {};
  if (prec == kFp32) return;
  if (prec.training) {
    m.typed.prec = prec;  // the linears are cast as they are used, or parked in fresh gradients
    if (m.grads_fresh) park_training_weights(m.cfg, m.p, m.g, m.typed);
  } else {
    typed_weights_make(m.typed, prec, linear_sources(m.cfg, m.p));
  }
}

int64_t gpt2_linear_bytes(const GPT2& m) {
  const std::vector<WeightSource> src = linear_sources(m.cfg, m.p);
  const TypedWeights& t = m.typed;
  double bytes = 0;
  for (size_t i = 0; i < src.size(); i++) {
    const DType d = !t.refs.empty()   ? t.refs[i].dtype
                    : t.prec.training ? DType::kBF16
                                      : DType::kF32;
    bytes += static_cast<double>(src[i].in * src[i].out) * dtype_bytes(d);
  }
  return static_cast<int64_t>(bytes);
}

void gpt2_release_fp32_linears(GPT2& m) {
  const Precision prec = gpt2_precision(m);
  if (prec.training || prec == kFp32 || m.typed.refs.empty()) return;
  const std::vector<WeightSource> src = linear_sources(m.cfg, m.p);
  for (size_t i = 0; i < src.size(); i++) {
    const bool head = i + 1 == src.size();
    if (m.typed.refs[i].data == src[i].w || (head && m.cfg.tied)) continue;  // still read
    buffer_release_pages(const_cast<float*>(src[i].w), sizeof(float) * src[i].in * src[i].out);
    float** view = head ? &m.p.lm_head : nullptr;
    if (!head) {
      LayerTensors& w = m.p.layers[i / 4];
      float** views[] = {&w.qkvw, &w.attprojw, &w.fcw, &w.fcprojw};
      view = views[i % 4];
    }
    *view = nullptr;  // a read would be of zeroed pages: fail loudly instead
  }
  m.fp32_released = true;
}

void gpt2_params_changed(GPT2& m) {
  if (!m.typed.prec.training) return;
  typed_training_stale(m.typed);
  if (m.grads_fresh) park_training_weights(m.cfg, m.p, m.g, m.typed);  // afresh
}

namespace {

// Where each tensor starts in the arena, in floats (bf16 tensors take half as many).
struct Slots {
  std::vector<std::pair<float**, int64_t>> f32;
  std::vector<std::pair<uint16_t**, int64_t>> b16;
};

// Plans the activation layout for N packed tokens whose attention maps take `att` floats: where
// each tensor starts; returns the floats needed. `bf16`: the GEMMs' inputs are kept in bf16 per
// layer, their fp32 buffers shared.
int64_t activations_plan(GPT2Activations& a, const GPT2Config& c, int64_t N, int64_t att,
                         Slots& slots, bool keep, bool recompute, std::vector<float*>* block_out,
                         bool bf16) {
  // Without backward, or recomputing in the backward, one layer's buffers (plus, to recompute,
  // every block's output).
  const int64_t C = c.n_embd, V = c.vocab, L = keep && !recompute ? c.n_layer : 1;
  int64_t off = 0;
  a.layers.resize(L);
  auto place = [&](int64_t floats) {  // 64-byte aligned
    const int64_t at = off;
    off += (floats + 15) / 16 * 16;
    return at;
  };
  auto take = [&](float** p, int64_t n) { slots.f32.push_back({p, place(n)}); };
  auto take16 = [&](uint16_t** p, int64_t n) { slots.b16.push_back({p, place((n + 1) / 2)}); };
  take(&a.encoded, N * C);
  // bf16: the fp32 GEMM inputs (ln1, atty, ln2, fch_gelu), one set shared by the layers
  int64_t shared[4] = {};
  if (bf16)
    for (int i = 0; i < 4; i++) shared[i] = place(i == 3 ? N * 4 * C : N * C);
  if (keep && recompute) {
    block_out->resize(c.n_layer);
    for (float*& o : *block_out) take(&o, N * C);
  }
  for (auto& l : a.layers) {
    l.ln1_16 = l.atty16 = l.ln2_16 = l.fchg16 = nullptr;
    if (bf16) {
      take16(&l.ln1_16, N * C), take16(&l.atty16, N * C), take16(&l.ln2_16, N * C),
          take16(&l.fchg16, N * 4 * C);
      float** fp32[4] = {&l.ln1, &l.atty, &l.ln2, &l.fch_gelu};
      for (int i = 0; i < 4; i++) slots.f32.push_back({fp32[i], shared[i]});
    } else {
      take(&l.ln1, N * C), take(&l.atty, N * C), take(&l.ln2, N * C), take(&l.fch_gelu, N * 4 * C);
    }
    take(&l.ln1_mean, N), take(&l.ln1_rstd, N), take(&l.qkv, N * 3 * C), take(&l.att, att);
    take(&l.residual2, N * C), take(&l.ln2_mean, N), take(&l.ln2_rstd, N);
    take(&l.fch, N * 4 * C), take(&l.residual3, N * C);
  }
  take(&a.lnf, N * C), take(&a.lnf_mean, N), take(&a.lnf_rstd, N), take(&a.lnf_rows, N * C);
  take(&a.logits, N * V), take(&a.tmp_btc, N * C);
  take(&a.dres, N * C), take(&a.dqkv, N * 3 * C), take(&a.dfch, N * 4 * C),
      take(&a.dfch_gelu, N * 4 * C);
  return off;
}

// Lays the activations out for the sequences `lens` (packed back to back) inside the arena,
// growing it when needed; records each sequence's token and attention-map offsets.
void activations_layout(GPT2Step& st, const GPT2Config& c, std::span<const int32_t> lens, bool keep,
                        bool bf16) {
  st.lens.assign(lens.begin(), lens.end());
  st.offs.assign(lens.size() + 1, 0);
  st.att_offs.assign(lens.size() + 1, 0);
  for (size_t b = 0; b < lens.size(); b++) {
    st.offs[b + 1] = st.offs[b] + lens[b];
    st.att_offs[b + 1] = st.att_offs[b] + static_cast<int64_t>(c.n_head) * lens[b] * lens[b];
  }
  st.N = st.offs.back();
  Slots slots;
  const int64_t off = activations_plan(st.a, c, st.N, st.att_offs.back(), slots, keep, st.recompute,
                                       &st.block_out, bf16);
  st.kept = keep;
  st.bf16_acts = bf16;
  if (st.arena.size() < off) st.arena.resize(off);
  for (auto& [p, o] : slots.f32) *p = st.arena.data() + o;
  for (auto& [p, o] : slots.b16) *p = reinterpret_cast<uint16_t*>(st.arena.data() + o);
}

}  // namespace

int64_t gpt2_activation_bytes(const GPT2Config& c, int B, int T, bool recompute, bool bf16) {
  GPT2Activations a;
  Slots slots;
  std::vector<float*> outs;
  const int64_t BT = static_cast<int64_t>(B) * T;
  return activations_plan(a, c, BT, BT * c.n_head * T, slots, true, recompute, &outs, bf16) *
         static_cast<int64_t>(sizeof(float));
}

namespace {
// Whether a kept forward holds its GEMM inputs in bf16 (not with an adapter: its path is fp32).
bool half_inputs(ModelRef m, const GPT2Step& st) {
  return st.half_inputs && gpt2_precision(m.base).training && !m.lora();
}
}  // namespace

void gpt2_reserve(ModelRef m, GPT2Step& st, int B, int T) {
  const int64_t n = gpt2_activation_bytes(m.cfg(), B, T, st.recompute, half_inputs(m, st)) /
                    static_cast<int64_t>(sizeof(float));
  if (st.arena.size() < n) st.arena.resize(n);
}

namespace {
// Block l's forward over the step's packed sequences (attention within each).
void block_run(ModelRef m, const GPT2Step& st, int l, GPT2Activations::Layer& s, BlockActs& io,
               const float* x) {
  const int C = m.cfg().n_embd, NH = m.cfg().n_head;
  block_forward(gpt2_block_weights(m, l), io, x, st.N, st.N, C, [&](float* atty, const float* qkv) {
    for (size_t b = 0; b < st.lens.size(); b++)  // causal attention within each sequence
      backend().attention_forward(atty + st.offs[b] * C, s.att + st.att_offs[b],
                                  qkv + st.offs[b] * 3 * C, 1, st.lens[b], C, NH);
  });
}
}  // namespace

const float* gpt2_forward(ModelRef m, GPT2Step& st, const int32_t* tokens,
                          std::span<const int32_t> lens, std::span<const int32_t> rows, bool keep) {
  const GPT2Config& c = m.cfg();
  const ParamTensors& p = m.base.p;
  const int C = c.n_embd, V = c.vocab;
  for (int32_t len : lens)
    if (len < 0 || len > c.n_ctx)
      fail("sequence length ", len, " exceeds the model context ", c.n_ctx, "; lower --max-length");
  activations_layout(st, c, lens, keep, keep && half_inputs(m, st));
  st.lora = m.lora();
  const int64_t N = st.N;
  for (int64_t i = 0; i < N; i++)
    if (tokens[i] < 0 || tokens[i] >= V)
      fail("token id ", tokens[i], " is outside the model vocabulary (", V, ")");
  st.inputs.assign(tokens, tokens + N);
  st.rows.assign(rows.begin(), rows.end());
  st.have_dlogits = false;
  GPT2Activations& a = st.a;
  const size_t nseq = lens.size();

  for (size_t b = 0; b < nseq; b++)  // positions restart at 0 in every sequence
    backend().encoder_forward(a.encoded + st.offs[b] * C, tokens + st.offs[b], p.wte, p.wpe, 1,
                              lens[b], C, nullptr);
  const float* residual = a.encoded;
  for (int l = 0; l < c.n_layer; l++) {
    // Kept: every layer its own buffers, for the backward. Not kept (evaluation): one layer's
    // buffers reused, and the residual stream updated in place in `encoded`.
    // Recomputed in the backward: one layer's buffers, and each block's output kept.
    const bool recompute = keep && st.recompute;
    GPT2Activations::Layer& s = a.layers[keep && !recompute ? l : 0];
    float* res3 = recompute ? st.block_out[l] : keep ? s.residual3 : a.encoded;
    BlockActs io{
        s.ln1,     s.ln1_mean, s.ln1_rstd, s.qkv,    s.atty,     keep ? s.residual2 : a.encoded,
        s.ln2,     s.ln2_mean, s.ln2_rstd, s.fch,    s.fch_gelu, res3,
        a.tmp_btc, s.ln1_16,   s.atty16,   s.ln2_16, s.fchg16};
    block_run(m, st, l, s, io, residual);
    residual = io.res3;
  }
  backend().layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, residual, p.lnfw, p.lnfb, N, C);

  // LM head only on the selected rows: padding and masked prompts cost nothing.
  const int64_t R = static_cast<int64_t>(st.rows.size());
  if (R == 0) return a.logits;
  const float* head_in = a.lnf;
  if (R < N) {
    backend().gather_rows(a.lnf_rows, a.lnf, st.rows.data(), R, C);
    head_in = a.lnf_rows;
  }
  gpt2_head_forward(m, a.logits, head_in, R);
  return a.logits;
}

const float* gpt2_forward(ModelRef m, GPT2Step& st, const int32_t* inputs, int B, int T,
                          std::span<const int32_t> rows) {
  const std::vector<int32_t> lens(B, T);
  return gpt2_forward(m, st, inputs, lens, rows, true);
}

const float* gpt2_logits(ModelRef m, GPT2Step& s, const int32_t* inputs, int B, int T) {
  std::vector<int32_t> all(static_cast<size_t>(B) * T);
  for (size_t i = 0; i < all.size(); i++) all[i] = static_cast<int32_t>(i);
  return gpt2_forward(m, s, inputs, B, T, all);
}

XentResult xent_head(const GPT2& m, GPT2Step& s, std::span<const int32_t> row_targets,
                     bool backward, int64_t denominator) {
  if (row_targets.size() != s.rows.size())
    fail("internal: ", row_targets.size(), " targets for ", s.rows.size(), " rows");
  XentResult r;
  const int R = static_cast<int>(s.rows.size());
  if (backward && !s.kept)
    fail("internal: a loss gradient after a forward that kept no activations");
  for (int32_t t : row_targets)  // a target outside the vocabulary would read past the logits
    if (t != -100 && (t < 0 || t >= m.cfg.vocab))
      fail("target token ", t, " is outside the model vocabulary (", m.cfg.vocab,
           "); use a matching tokenizer and model");
  s.have_dlogits = backward;
  if (R == 0) return r;  // with nothing selected the backward is a no-op
  if (backward) {
    r.loss = backend().crossentropy_forward_backward(s.a.logits, row_targets.data(), R, m.cfg.vocab,
                                                     &r.counted, denominator);
  } else {
    r.loss =
        backend().crossentropy_forward(s.a.logits, row_targets.data(), R, m.cfg.vocab, &r.counted);
  }
  return r;
}

SeqLogprobs logprob_head(const GPT2& m, const GPT2Step& s, std::span<const int32_t> labels,
                         std::span<const int32_t> seq_of_row, int nseq, bool mean) {
  const int R = static_cast<int>(s.rows.size());
  if (static_cast<int>(labels.size()) != R || static_cast<int>(seq_of_row.size()) != R)
    fail("internal: ", labels.size(), " labels for ", R, " rows");
  std::vector<double> row_lp(R);
  if (R) backend().logprob_rows(row_lp.data(), s.a.logits, labels.data(), R, m.cfg.vocab);
  SeqLogprobs out;
  out.lp.assign(nseq, 0.0);
  out.count.assign(nseq, 0);
  for (int r = 0; r < R; r++) out.lp[seq_of_row[r]] += row_lp[r], out.count[seq_of_row[r]]++;
  if (mean)
    for (int k = 0; k < nseq; k++) out.lp[k] = out.count[k] ? out.lp[k] / out.count[k] : 0.0;
  return out;
}

void logprob_head_backward(const GPT2& m, GPT2Step& s, std::span<const int32_t> labels,
                           std::span<const int32_t> seq_of_row, const SeqLogprobs& r,
                           std::span<const double> weight, bool mean) {
  const int R = static_cast<int>(s.rows.size());
  std::vector<double> dout(R);
  for (int i = 0; i < R; i++) {
    const int k = seq_of_row[i];
    dout[i] = weight[k] / (mean ? static_cast<double>(r.count[k]) : 1.0);
  }
  if (!s.kept) fail("internal: a loss gradient after a forward that kept no activations");
  if (R) backend().logprob_rows_backward(s.a.logits, labels.data(), dout.data(), R, m.cfg.vocab);
  s.have_dlogits = true;
}

int loss_row_length(const int32_t* row_targets, int T, bool pack) {
  // Packed: a row keeps its tokens up to its last counted target; the positions after it cannot
  // change any counted logit (attention is causal), so dropping them is exact.
  int len = T;
  if (pack)
    while (len > 0 && row_targets[len - 1] == -100) len--;
  return len;
}

XentResult gpt2_loss(ModelRef m, GPT2Step& s, const int32_t* inputs, const int32_t* targets, int B,
                     int T, bool backward, int64_t denominator, bool pack) {
  std::vector<int32_t> lens, tokens, rows, row_targets;
  for (int b = 0; b < B; b++) {
    const int32_t* tg = targets + static_cast<int64_t>(b) * T;
    const int len = loss_row_length(tg, T, pack);
    if (len == 0) continue;
    const int64_t base = static_cast<int64_t>(tokens.size());
    for (int t = 0; t < len; t++)
      if (tg[t] != -100)
        rows.push_back(static_cast<int32_t>(base + t)), row_targets.push_back(tg[t]);
    tokens.insert(tokens.end(), inputs + static_cast<int64_t>(b) * T,
                  inputs + static_cast<int64_t>(b) * T + len);
    lens.push_back(len);
  }
  gpt2_forward(m, s, tokens.data(), lens, rows, backward);  // an evaluation keeps no activations
  return xent_head(m.base, s, row_targets, backward, denominator);
}

namespace {
// Before a backward into fresh gradients: zeroes those its GEMMs do not write whole (biases,
// LayerNorms, position embeddings, an untied wte: what is added to), or all of them when it has
// no rows (then no GEMM runs).
void zero_unwritten_grads(GPT2& m, bool all) {
  if (all) return typed_training_stale(m.typed), m.w.grads.zero();
  std::vector<const float*> written;
  for (const WeightSource& s : linear_sources(m.cfg, m.g)) written.push_back(s.w);
  for (const ParamSpec& s : m.w.table) {
    float* g = m.w.grads.data() + s.offset;
    if (std::find(written.begin(), written.end(), g) == written.end())
      backend().zero(g, sizeof(float) * s.numel);
  }
}
}  // namespace

void gpt2_backward(GPT2& m, GPT2Step& st, const GradReady* ready) {
  if (!st.have_dlogits) fail("internal: gpt2_backward without a loss head's gradient");
  const bool fused = m.fused_grads.size() > 0;
  if (fused != (ready != nullptr)) fail("internal: fused gradients and a GradReady go together");
  LoraAdapter* lora = st.lora;  // the forward's adapter (null: the base trains)
  if (!fused && !gpt2_trainable(m, lora).has_grads()) gpt2_zero_grad(m, lora);
  // Fresh gradients are written, not added to: the linears' weights by their GEMMs (each after
  // reading its parked bf16 weight, if any), the rest zeroed here first.
  const bool fresh = !lora && m.grads_fresh;
  struct Unpark {  // however the backward ends, the parked weights are overwritten by then
    GPT2& m;
    bool on;
    ~Unpark() {
      if (on) typed_training_stale(m.typed), m.grads_fresh = false;
    }
  } unpark{m, fresh};
  if (fresh) zero_unwritten_grads(m, st.rows.empty());
  const bool add = !fresh;  // the dW GEMMs add to what earlier backwards left
  const ModelRef run(m, lora);
  const GPT2Config& c = m.cfg;
  const int C = c.n_embd, NH = c.n_head;
  const int64_t BT = st.N, R = static_cast<int64_t>(st.rows.size());
  const size_t nseq = st.lens.size();
  GPT2Activations& a = st.a;
  // The base's gradients, or (LoRA: the base is frozen) none: every dW GEMM, bias and LayerNorm
  // gradient of the base is skipped, and so is the first layer's input gradient.
  const bool base = !lora;
  ParamTensors none{};
  none.layers.resize(c.n_layer);
  const ParamTensors& g = base ? m.g : none;
  if (R == 0) return;

  // LM head: dW += dlogits^T @ rows; drows = dlogits @ W, scattered into dlnf (tmp_btc).
  const bool compact = R < BT;
  const float* head_in = compact ? a.lnf_rows : a.lnf;
  float* dlnf = a.tmp_btc;
  float* drows = compact ? a.dqkv : dlnf;  // dqkv is free until the first layer's backward
  head_backward(c, m.p, gpt2_typed(m), run.lora(), drows, g.lm_head, a.logits, head_in, R, add);
  if (compact) {  // back to the rows they came from; the others' gradient is zero
    backend().zero(dlnf, sizeof(float) * BT * C);
    backend().scatter_rows(dlnf, drows, st.rows.data(), R, C);
  }
  const bool recompute = st.recompute;
  auto block_output = [&](int l) { return recompute ? st.block_out[l] : a.layers[l].residual3; };
  const float* last = c.n_layer ? block_output(c.n_layer - 1) : a.encoded;
  backend().zero(a.dres, sizeof(float) * BT * C);
  backend().layernorm_backward(a.dres, g.lnfw, g.lnfb, dlnf, last, m.p.lnfw, a.lnf_mean, a.lnf_rstd,
                               BT, C);

  // dres holds dloss/d(layer output); each residual passes it through unchanged.
  for (int l = c.n_layer - 1; l >= 0; l--) {
    const BlockWeights w = gpt2_block_weights(run, l);
    const LayerTensors& dw = g.layers[l];
    GPT2Activations::Layer& s = a.layers[recompute ? 0 : l];
    const float* residual = l == 0 ? a.encoded : block_output(l - 1);
    float* dbtc = a.tmp_btc;
    if (recompute) {  // the block's activations again, from its input (tmp_btc is free here)
      BlockActs io{s.ln1,     s.ln1_mean, s.ln1_rstd, s.qkv,    s.atty,     s.residual2,
                   s.ln2,     s.ln2_mean, s.ln2_rstd, s.fch,    s.fch_gelu, s.residual3,
                   a.tmp_btc, s.ln1_16,   s.atty16,   s.ln2_16, s.fchg16};
      block_run(run, st, l, s, io, residual);
    }
    const auto [first, end] = fused ? m.layer_specs[l] : std::pair<size_t, size_t>{0, 0};
    float* layer_grads =
        fused ? m.fused_grads.data() + m.fused_grads.size() -
                    (m.w.table[end - 1].offset + m.w.table[end - 1].numel - m.w.table[first].offset)
              : nullptr;
    if (fused)
      backend().zero(layer_grads,
                     sizeof(float) * (m.fused_grads.data() + m.fused_grads.size() - layer_grads));
    // MLP
    // With bf16 activations the fp32 GEMM inputs are shared scratch (stale here): the bf16 ones.
    const bool h = st.bf16_acts;
    linear_backward(w.fcproj, a.dfch_gelu, dw.fcprojw, dw.fcprojb, a.dres, h ? nullptr : s.fch_gelu,
                    BT, false, s.fchg16, nullptr, 0, add);
    backend().zero(a.dfch, sizeof(float) * BT * 4 * C);
    backend().gelu_backward(a.dfch, s.fch, a.dfch_gelu, BT * 4 * C);
    linear_backward(w.fc, dbtc, dw.fcw, dw.fcb, a.dfch, h ? nullptr : s.ln2, BT, false, s.ln2_16,
                    nullptr, 0, add);
    backend().layernorm_backward(a.dres, dw.ln2w, dw.ln2b, dbtc, s.residual2, w.ln2w, s.ln2_mean,
                                 s.ln2_rstd, BT, C);
    // attention
    linear_backward(w.attproj, dbtc, dw.attprojw, dw.attprojb, a.dres, h ? nullptr : s.atty, BT,
                    false, s.atty16, nullptr, 0, add);
    backend().zero(a.dqkv, sizeof(float) * BT * 3 * C);
    for (size_t b = 0; b < nseq; b++)
      backend().attention_backward(a.dqkv + st.offs[b] * 3 * C, dbtc + st.offs[b] * C,
                                   s.qkv + st.offs[b] * 3 * C, s.att + st.att_offs[b], 1,
                                   st.lens[b], C, NH);
    const bool need_dinp = base || l > 0;  // below the first layer only the frozen embeddings
    linear_backward(w.qkv, need_dinp ? dbtc : nullptr, dw.qkvw, dw.qkvb, a.dqkv,
                    h ? nullptr : s.ln1, BT, false, s.ln1_16, nullptr, 0, add);
    if (need_dinp)
      backend().layernorm_backward(a.dres, dw.ln1w, dw.ln1b, dbtc, residual, w.ln1w, s.ln1_mean,
                                   s.ln1_rstd, BT, C);
    if (fused) (*ready)(first, end, layer_grads);  // layer l's gradients are final
  }
  if (!base) return;
  for (size_t b = 0; b < nseq; b++)
    backend().encoder_backward(g.wte, g.wpe, a.dres + st.offs[b] * C, st.inputs.data() + st.offs[b],
                               1, st.lens[b], C);
  if (!fused) return;
  // The tensors outside the layers: final now (wte's head and embedding parts both added).
  int64_t off = 0;
  for (size_t i = 0; i < m.w.table.size(); i++) {
    if (m.w.table[i].name.rfind("h.", 0) == 0) continue;
    (*ready)(i, i + 1, m.fused_grads.data() + off);
    off += m.w.table[i].numel;
  }
}

void gpt2_merge_lora(GPT2& m, LoraAdapter& adapter) {
  if (!adapter.on()) return;
  const GPT2Config& c = m.cfg;
  if (c.tied && adapter.linear(c.n_layer, kLoraHead).on()) {  // the head gets its own copy of wte
    GPT2Config u = c;
    u.tied = false;
    GPT2 untied = gpt2_create(u);
    for (const ParamSpec& s : untied.w.table) {
      const ParamSpec& from = m.w.spec(s.fallback.empty() ? s.name : s.fallback);
      backend().copy(untied.w.params.data() + s.offset, m.w.params.data() + from.offset,
                     sizeof(float) * s.numel);
    }
    m = std::move(untied);
  }
  const Precision prec = gpt2_precision(m);
  gpt2_set_precision(m, kFp32);
  auto fold = [](float* W, const Linear& L) {
    const LoraLinear& a = L.lora;
    if (!a.on()) return;
    const int64_t r = a.rank, op = L.out / a.pieces;
    std::vector<float> As(static_cast<size_t>(a.pieces * r * L.in));  // alpha * A
    for (size_t i = 0; i < As.size(); i++) As[i] = a.alpha * a.A[i];
    for (int j = 0; j < a.pieces; j++) {
      const float* Aj = As.data() + j * r * L.in;  // [r, in]
      const float* Bj = a.B + j * op * r;          // [op, r]
      if (L.w.layout == WeightLayout::kConv1D) {   // W [in, out]: columns j*op.. += Aj^T Bj^T
        GemmArgs g{L.in, op, r, true, true, true};
        g.ldc = L.out;
        backend().gemm_f32(W + j * op, Aj, Bj, nullptr, g);
      } else {  // W [out, in]: rows j*op.. += Bj Aj
        backend().gemm_f32(W + j * op * L.in, Bj, Aj, nullptr, {op, L.in, r, false, false, true});
      }
    }
  };
  for (int l = 0; l < c.n_layer; l++) {
    const BlockWeights w = gpt2_block_weights({m, &adapter}, l);
    LayerTensors& p = m.p.layers[l];
    fold(p.qkvw, w.qkv), fold(p.attprojw, w.attproj), fold(p.fcw, w.fc), fold(p.fcprojw, w.fcproj);
  }
  fold(m.p.lm_head, gpt2_head_weights({m, &adapter}));
  adapter = LoraAdapter{};
  gpt2_set_precision(m, prec);
}

}  // namespace instruct
