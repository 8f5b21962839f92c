// Recompute generation: one forward over the last n_ctx tokens per new token, LM head on the last
// position only (a -100 target on every other row leaves them out of the head).
#include "infer/generate.hpp"

#include <algorithm>
#include <cmath>

#include <deque>

#include "core/error.hpp"
#include "core/sys.hpp"

namespace instruct {

int32_t sample_token(const float* logits, int32_t V, const SampleOptions& o, std::mt19937_64& rng,
                     std::vector<std::pair<float, int32_t>>& scratch) {
  if (o.temperature <= 0 || o.top_k == 1) {
    int32_t best = 0;
    for (int32_t v = 1; v < V; v++)
      if (logits[v] > logits[best]) best = v;
    return best;
  }
  scratch.resize(V);
  for (int32_t v = 0; v < V; v++) scratch[v] = {logits[v] / static_cast<float>(o.temperature), v};
  size_t n = V;
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (o.top_k > 0 && o.top_k < V) {
    std::partial_sort(scratch.begin(), scratch.begin() + o.top_k, scratch.end(), by_logit);
    n = o.top_k;
  } else if (o.top_p < 1.0) {
    std::sort(scratch.begin(), scratch.end(), by_logit);
  }
  const float mx = std::max_element(scratch.begin(), scratch.begin() + n, [](auto& a, auto& b) { return a.first < b.first; })->first;
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (scratch[i].first = std::exp(scratch[i].first - mx));
  if (o.top_p < 1.0) {  // smallest prefix (already sorted by probability) whose mass reaches top_p
    double acc = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; i++) {
      acc += scratch[i].first / sum;
      if (acc >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
    sum = 0;
    for (size_t i = 0; i < n; i++) sum += scratch[i].first;
  }
  const double r = std::uniform_real_distribution<double>(0.0, sum)(rng);
  double acc = 0;
  for (size_t i = 0; i < n; i++) {
    acc += scratch[i].first;
    if (r < acc) return scratch[i].second;
  }
  return scratch[n - 1].second;
}

std::vector<int32_t> generate_recompute(GPT2& m, const std::vector<int32_t>& prompt, int32_t max_new, int32_t eos,
                                        const SampleOptions& o) {
  if (prompt.empty()) fail("cannot generate from an empty prompt");
  std::vector<int32_t> seq = prompt, out;
  std::mt19937_64 rng(o.seed);
  std::vector<std::pair<float, int32_t>> scratch;
  GPT2Step step;
  for (int32_t i = 0; i < max_new; i++) {
    const int32_t T = std::min<int32_t>(static_cast<int32_t>(seq.size()), m.cfg.n_ctx);
    const int32_t* ctx = seq.data() + seq.size() - T;
    const int32_t last[1] = {T - 1};  // the LM head on the last row only
    const float* logits = gpt2_forward(m, step, ctx, 1, T, last);
    const int32_t next = sample_token(logits, m.cfg.vocab, o, rng, scratch);
    if (eos >= 0 && next == eos) break;
    seq.push_back(next);
    out.push_back(next);
  }
  return out;
}

GenerateStats generate_batch(GPT2& m, const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& o,
                             const TokenFn& on_token, const DoneFn& on_done) {
  GenerateStats st;
  st.prompts = static_cast<int64_t>(prompts.size());
  if (prompts.empty()) return st;
  const int32_t n_ctx = m.cfg.n_ctx, V = m.cfg.vocab;
  if (o.max_new_tokens < 0) fail("--max-new-tokens ", o.max_new_tokens, " is invalid; use 0 or more");
  if (o.batch_size < 1) fail("--batch-size ", o.batch_size, " is invalid; use 1 or more");
  size_t longest = 0;
  for (size_t i = 0; i < prompts.size(); i++) {
    if (prompts[i].empty()) fail("prompt ", i, " is empty; nothing to generate from");
    longest = std::max(longest, prompts[i].size());
  }
  const int32_t slots = static_cast<int32_t>(std::min<size_t>(o.batch_size, prompts.size()));
  const int32_t max_len = static_cast<int32_t>(std::min<int64_t>(n_ctx, static_cast<int64_t>(longest) + o.max_new_tokens));
  KVCache kv = kv_cache_create(m.cfg, slots, max_len);
  InferScratch scratch;

  struct Seq {
    size_t prompt = 0;
    std::vector<int32_t> tokens;  // prompt + generated (the reference's idx)
    std::vector<int32_t> out;
    std::mt19937_64 rng;
    bool active = false, need_prefill = false;
  };
  std::vector<Seq> seq(slots);
  std::deque<size_t> waiting;
  for (size_t i = 0; i < prompts.size(); i++) waiting.push_back(i);
  std::vector<SeqChunk> chunks;
  std::vector<int32_t> chunk_slot;
  std::vector<std::pair<float, int32_t>> pick_scratch;

  auto finish = [&](int32_t sl) {
    Seq& q = seq[sl];
    q.active = false;
    st.new_tokens += static_cast<int64_t>(q.out.size());
    if (on_done) on_done(q.prompt, q.out);
  };
  for (;;) {
    // Free slots take the next prompts (zero new tokens wanted: done at once).
    for (int32_t sl = 0; sl < slots; sl++) {
      while (!seq[sl].active && !waiting.empty()) {
        Seq& q = seq[sl];
        q.prompt = waiting.front();
        waiting.pop_front();
        q.tokens = prompts[q.prompt];
        q.out.clear();
        q.rng.seed(o.sample.seed + q.prompt);
        q.active = true, q.need_prefill = true;
        if (o.max_new_tokens == 0) finish(sl);
      }
    }
    chunks.clear();
    chunk_slot.clear();
    bool any_prefill = false;
    for (int32_t sl = 0; sl < slots; sl++) {
      Seq& q = seq[sl];
      if (!q.active) continue;
      if (!q.need_prefill && kv.len[sl] + 1 > kv.layout.max_len) q.need_prefill = true;  // slide the window
      if (q.need_prefill) {
        const int32_t n = static_cast<int32_t>(std::min<size_t>(q.tokens.size(), n_ctx));
        kv.len[sl] = 0;
        chunks.push_back({sl, q.tokens.data() + q.tokens.size() - n, n});
        st.prefill_tokens += n;
        q.need_prefill = false;
        any_prefill = true;
      } else {
        chunks.push_back({sl, &q.tokens.back(), 1});
      }
      chunk_slot.push_back(sl);
    }
    if (chunks.empty()) break;
    Timer t;
    const float* logits = gpt2_infer(m, kv, scratch, chunks);
    (any_prefill ? st.prefill_seconds : st.decode_seconds) += t.seconds();
    st.forwards++;
    for (size_t i = 0; i < chunks.size(); i++) {
      const int32_t sl = chunk_slot[i];
      Seq& q = seq[sl];
      const int32_t next = sample_token(logits + static_cast<int64_t>(i) * V, V, o.sample, q.rng, pick_scratch);
      if (o.eos >= 0 && next == o.eos) {
        finish(sl);
        continue;
      }
      q.tokens.push_back(next);
      q.out.push_back(next);
      if (on_token) on_token(q.prompt, next);
      if (static_cast<int32_t>(q.out.size()) >= o.max_new_tokens) finish(sl);
    }
  }
  return st;
}

}  // namespace instruct
