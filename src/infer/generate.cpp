// Recompute generation: one forward over the last n_ctx tokens per new token, LM head on the last
// position only (a -100 target on every other row leaves them out of the head).
#include "infer/generate.hpp"

#include <algorithm>
#include <cmath>

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
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (o.top_k > 0 && o.top_k < V) {
    std::partial_sort(scratch.begin(), scratch.begin() + o.top_k, scratch.end(), by_logit);
    n = o.top_k;
  } else if (o.top_p < 1.0) {
    std::sort(scratch.begin(), scratch.end(), by_logit);
  }
  const float mx = std::max_element(scratch.begin(), scratch.begin() + n, [](auto& a, auto& b) {
                     return a.first < b.first;
                   })->first;
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

std::vector<int32_t> generate_recompute(ModelRef m, const std::vector<int32_t>& prompt,
                                        int32_t max_new, int32_t eos, const SampleOptions& o) {
  if (prompt.empty()) fail("cannot generate from an empty prompt");
  std::vector<int32_t> seq = prompt, out;
  std::mt19937_64 rng(o.seed);
  std::vector<std::pair<float, int32_t>> scratch;
  GPT2Step step;
  for (int32_t i = 0; i < max_new; i++) {
    const int32_t T = std::min<int32_t>(static_cast<int32_t>(seq.size()), m.cfg().n_ctx);
    const int32_t* ctx = seq.data() + seq.size() - T;
    const int32_t last[1] = {T - 1};  // the LM head on the last row only
    const float* logits = gpt2_forward(m, step, ctx, 1, T, last);
    const int32_t next = sample_token(logits, m.cfg().vocab, o, rng, scratch);
    if (eos >= 0 && next == eos) break;
    seq.push_back(next);
    out.push_back(next);
  }
  return out;
}

BatchDecoder::BatchDecoder(ModelRef m, int32_t slots, int32_t max_len, int32_t prefill_rows)
    : prefill_rows_(std::max(1, prefill_rows)),
      m_(m),
      kv_(kv_cache_create(m.cfg(), slots, std::min(max_len, m.cfg().n_ctx),
                          gpt2_precision(m.base).kv)),
      seq_(slots) {}

int32_t BatchDecoder::active() const {
  int32_t n = 0;
  for (const Seq& q : seq_) n += q.active;
  return n;
}

int32_t BatchDecoder::free_slot() const {
  for (size_t sl = 0; sl < seq_.size(); sl++)
    if (!seq_[sl].active) return static_cast<int32_t>(sl);
  return -1;
}

void BatchDecoder::start(int32_t slot, std::vector<int32_t> prompt, const SampleOptions& s) {
  if (prompt.empty()) fail("cannot generate from an empty prompt");
  Seq& q = seq_[slot];
  q.tokens = std::move(prompt);
  q.sample = s;
  q.rng.seed(s.seed);
  q.active = true, q.need_prefill = true;
  q.prefilled = 0;
}

void BatchDecoder::stop(int32_t slot) {
  seq_[slot].active = false;
  seq_[slot].prefilled = 0;
}

const std::vector<BatchDecoder::Pick>& BatchDecoder::step() {
  const int32_t n_ctx = m_.cfg().n_ctx, V = m_.cfg().vocab;
  chunks_.clear();
  picks_.clear();
  bool any_prefill = false;
  int32_t budget = prefill_rows_;  // prompt tokens this step may still run
  rows_.clear();
  for (int32_t sl = 0; sl < slots(); sl++) {
    Seq& q = seq_[sl];
    if (!q.active) continue;
    if (!q.need_prefill && kv_.len[sl] + 1 > kv_.layout.max_len)
      q.need_prefill = true;  // slide the window
    if (q.need_prefill) {
      if (q.prefilled == 0) {  // a new window: its last n tokens, from an empty cache
        q.prefill_n = static_cast<int32_t>(
            std::min<size_t>(q.tokens.size(), std::min(n_ctx, kv_.layout.max_len)));
        q.prefill_from = static_cast<int32_t>(q.tokens.size()) - q.prefill_n;
        kv_.len[sl] = 0;
      }
      const int32_t n = std::min(q.prefill_n - q.prefilled, budget);
      if (n == 0) continue;  // no room this step: it waits for the next
      chunks_.push_back({sl, q.tokens.data() + q.prefill_from + q.prefilled, n});
      budget -= n;
      q.prefilled += n;
      st_.prefill_tokens += n;
      any_prefill = true;
      if (q.prefilled < q.prefill_n) continue;  // more chunks to come: no pick yet
      q.need_prefill = false;
      q.prefilled = 0;
      picks_.push_back({sl, -1, true});
    } else {
      chunks_.push_back({sl, &q.tokens.back(), 1});
      picks_.push_back({sl, -1, false});
    }
    rows_.push_back(static_cast<int32_t>(chunks_.size()) - 1);  // the pick's logit row
  }
  if (chunks_.empty()) return picks_;
  Timer t;
  const float* logits = gpt2_infer(m_, kv_, scratch_, chunks_);
  (any_prefill ? st_.prefill_seconds : st_.decode_seconds) += t.seconds();
  st_.forwards++;
  for (size_t i = 0; i < picks_.size(); i++) {
    Seq& q = seq_[picks_[i].slot];
    picks_[i].token = sample_token(logits + static_cast<int64_t>(rows_[i]) * V, V, q.sample, q.rng,
                                   pick_scratch_);
    q.tokens.push_back(picks_[i].token);
  }
  return picks_;
}

void generate_options_check(const GenerateOptions& o) {
  generate_options_visit(OptChecker{}, o);
  if (o.batch_size < 1) fail("--batch-size ", o.batch_size, " is invalid; use 1 or more");
}

GenerateStats generate_batch(ModelRef m, const std::vector<std::vector<int32_t>>& prompts,
                             const GenerateOptions& o, const TokenFn& on_token,
                             const DoneFn& on_done) {
  generate_options_check(o);
  if (prompts.empty()) return {};
  size_t longest = 0;
  for (size_t i = 0; i < prompts.size(); i++) {
    if (prompts[i].empty()) fail("prompt ", i, " is empty; nothing to generate from");
    longest = std::max(longest, prompts[i].size());
  }
  const int32_t slots = static_cast<int32_t>(std::min<size_t>(o.batch_size, prompts.size()));
  const int32_t max_len = static_cast<int32_t>(
      std::min<int64_t>(m.cfg().n_ctx, static_cast<int64_t>(longest) + o.max_new_tokens));
  BatchDecoder dec(m, slots, max_len);
  std::vector<size_t> prompt_of(slots);
  std::vector<std::vector<int32_t>> out(slots);
  int64_t new_tokens = 0;
  size_t next = 0;
  auto finish = [&](int32_t sl) {
    dec.stop(sl);
    new_tokens += static_cast<int64_t>(out[sl].size());
    if (on_done) on_done(prompt_of[sl], out[sl]);
  };
  for (;;) {
    // Free slots take the next prompts (zero new tokens wanted: done at once).
    for (int32_t sl; next < prompts.size() && (sl = dec.free_slot()) >= 0; next++) {
      prompt_of[sl] = next;
      out[sl].clear();
      SampleOptions s = o.sample;
      s.seed = o.sample.seed + next;  // each prompt samples with its own generator
      dec.start(sl, prompts[next], s);
      if (o.max_new_tokens == 0) finish(sl);
    }
    const std::vector<BatchDecoder::Pick>& picks = dec.step();
    if (picks.empty() && dec.active() == 0) break;
    for (const BatchDecoder::Pick& p : picks) {
      if (o.eos >= 0 && p.token == o.eos) {
        finish(p.slot);
        continue;
      }
      out[p.slot].push_back(p.token);
      if (on_token) on_token(prompt_of[p.slot], p.token);
      if (static_cast<int32_t>(out[p.slot].size()) >= o.max_new_tokens) finish(p.slot);
    }
  }
  GenerateStats st = dec.stats();
  st.prompts = static_cast<int64_t>(prompts.size());
  st.new_tokens = new_tokens;
  return st;
}

}  // namespace instruct
