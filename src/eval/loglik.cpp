// Continuation log-likelihoods with a shared context cache (lm_eval/models/huggingface.py
// _encode_pair and _loglikelihood_tokens).
#include "eval/loglik.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "model/gpt2_infer.hpp"
#include "text/utf8.hpp"

namespace instruct {

LoglikRequest loglik_request(Bpe& bpe, std::string_view context,
                             const std::vector<std::string>& continuations, int32_t eot) {
  LoglikRequest r;
  if (context.empty()) {
    r.ctx = {eot};
    for (const std::string& c : continuations)
      r.conts.push_back(bpe_encode(bpe, c, SpecialTokens::kAllow));
  } else {
    const std::string_view kept = py_rstrip(context);
    const std::string_view moved = context.substr(kept.size());
    r.ctx = bpe_encode(bpe, kept, SpecialTokens::kAllow);
    for (const std::string& c : continuations) {
      std::vector<int32_t> whole =
          bpe_encode(bpe, std::string(kept) + std::string(moved) + c, SpecialTokens::kAllow);
      r.conts.emplace_back(whole.begin() + std::min(whole.size(), r.ctx.size()), whole.end());
    }
  }
  for (size_t i = 0; i < r.conts.size(); i++)
    if (r.conts[i].empty())
      fail("choice ", i, " (\"", continuations[i],
           "\") adds no token to its context; a choice must be text");
  return r;
}

namespace {

// log_softmax(row)[tok], given the row's logsumexp.
double log_prob(const float* row, int32_t tok, double lse) {
  return static_cast<double>(row[tok]) - lse;
}

double logsumexp(const float* row, int64_t V) {
  float mx = row[0];
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < V; j++) mx = std::max(mx, row[j]);
  double sum = 0;
  for (int64_t j = 0; j < V; j++) sum += std::exp(static_cast<double>(row[j] - mx));
  return mx + std::log(sum);
}

// How one request is laid out in one batch's forwards.
struct Plan {
  int32_t ctx_slot = -1;                     // the shared context's slot; -1: no choice shares it
  int64_t ctx_row = -1;                      // its logit row in the first forward
  std::vector<int64_t> row;                  // per unshared choice: its first logit row
  std::vector<std::vector<int32_t>> window;  // per unshared choice: (ctx + cont)[-(n_ctx+1):][:-1]
};

}  // namespace

std::vector<std::vector<double>> loglik_score(ModelRef m, std::span<const LoglikRequest> reqs,
                                              const LoglikOptions& o,
                                              const std::function<void(int64_t)>& on_done) {
  const GPT2Config& c = m.cfg();
  const int64_t V = c.vocab, ctxmax = c.n_ctx;
  // Slots each request needs and the cache length any of them needs.
  std::vector<int32_t> need(reqs.size());
  int32_t max_len = 1;
  for (size_t i = 0; i < reqs.size(); i++) {
    const LoglikRequest& r = reqs[i];
    if (r.ctx.empty()) fail("internal: empty context");
    int32_t multi = 0, own = 0;
    bool any_shared = false;
    for (const auto& cont : r.conts) {
      if (static_cast<int64_t>(cont.size()) > ctxmax)
        fail("a choice of ", cont.size(), " tokens does not fit the model's context of ", ctxmax);
      if (static_cast<int64_t>(r.ctx.size() + cont.size()) > ctxmax + 1) {
        own++, max_len = static_cast<int32_t>(ctxmax);
      } else {
        any_shared = true;
        if (cont.size() > 1) multi++;
        max_len = std::max<int32_t>(max_len, static_cast<int32_t>(r.ctx.size() + cont.size() - 1));
      }
    }
    need[i] = own + (any_shared ? std::max(1, multi) : 0);
  }
  const int64_t slot_bytes = int64_t{2} * c.n_layer * max_len * c.n_embd * sizeof(float);
  // Batches: consecutive requests, at most batch_size, within the cache budget (at least one).
  std::vector<std::pair<size_t, size_t>> batches;
  int32_t max_slots = 1;
  for (size_t i = 0; i < reqs.size();) {
    size_t j = i;
    int32_t slots = 0;
    while (j < reqs.size() && static_cast<int32_t>(j - i) < std::max(1, o.batch_size) &&
           (j == i || (slots + need[j]) * slot_bytes <= o.max_kv_bytes))
      slots += need[j++];
    batches.push_back({i, j});
    max_slots = std::max(max_slots, slots);
    i = j;
  }
  std::vector<std::vector<double>> out(reqs.size());
  if (reqs.empty()) return out;
  KVCache kv = kv_cache_create(c, max_slots, max_len, gpt2_precision(m.base).kv);
  InferScratch s;
  std::vector<Plan> plans;
  std::vector<SeqChunk> chunks;
  for (auto [b0, b1] : batches) {
    std::fill(kv.len.begin(), kv.len.end(), 0);
    plans.assign(b1 - b0, Plan{});
    chunks.clear();
    int32_t next = 0;
    int64_t rows_n = 0;
    // Phase 1: each shared context (one logit row: the first token of every continuation) and
    // each choice too long to share it (its whole window).
    for (size_t i = b0; i < b1; i++) {
      const LoglikRequest& r = reqs[i];
      Plan& p = plans[i - b0];
      const size_t n = r.conts.size();
      p.row.assign(n, -1), p.window.assign(n, {});
      out[i].assign(n, 0.0);
      for (size_t k = 0; k < n; k++) {
        const auto& cont = r.conts[k];
        if (static_cast<int64_t>(r.ctx.size() + cont.size()) > ctxmax + 1) {
          std::vector<int32_t> all = r.ctx;
          all.insert(all.end(), cont.begin(), cont.end());
          p.window[k].assign(all.end() - (ctxmax + 1), all.end() - 1);
          chunks.push_back({next++, p.window[k].data(), static_cast<int32_t>(ctxmax),
                            static_cast<int32_t>(cont.size())});
          p.row[k] = rows_n, rows_n += static_cast<int64_t>(cont.size());
        } else if (p.ctx_slot < 0) {
          p.ctx_slot = next++;
          chunks.push_back({p.ctx_slot, r.ctx.data(), static_cast<int32_t>(r.ctx.size()), 1});
          p.ctx_row = rows_n++;
        }
      }
    }
    const float* logits = gpt2_infer(m, kv, s, chunks);
    std::vector<double> lse(rows_n);
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < rows_n; i++) lse[i] = logsumexp(logits + i * V, V);
    auto lp1 = [&](int64_t row, int32_t tok) { return log_prob(logits + row * V, tok, lse[row]); };
    // The unshared choices' sums; the first token of each shared continuation from its context's
    // row; the rest of the shared continuations go to phase 2, in copies of the context's slot.
    std::vector<SeqChunk> chunks2;
    std::vector<std::pair<size_t, size_t>> owner;  // (request, choice) per phase-2 chunk
    for (size_t i = b0; i < b1; i++) {
      const LoglikRequest& r = reqs[i];
      const Plan& p = plans[i - b0];
      std::vector<size_t> multi;
      for (size_t k = 0; k < r.conts.size(); k++) {
        const auto& cont = r.conts[k];
        if (p.row[k] >= 0) {
          for (size_t j = 0; j < cont.size(); j++) out[i][k] += lp1(p.row[k] + j, cont[j]);
          continue;
        }
        out[i][k] += lp1(p.ctx_row, cont[0]);
        if (cont.size() > 1) multi.push_back(k);
      }
      for (size_t q = 0; q < multi.size(); q++) {
        const size_t k = multi[q];
        // the last one continues in the context's own slot (copied from before it grows)
        const int32_t slot = q + 1 == multi.size() ? p.ctx_slot : next++;
        if (slot != p.ctx_slot) kv_cache_copy(kv, p.ctx_slot, slot);
        const int32_t n = static_cast<int32_t>(r.conts[k].size() - 1);
        chunks2.push_back({slot, r.conts[k].data(), n, n});
        owner.push_back({i, k});
      }
    }
    if (!chunks2.empty()) {
      const float* l2 = gpt2_infer(m, kv, s, chunks2);
      std::vector<std::pair<const float*, int32_t>> want;  // (row, token)
      std::vector<size_t> who;
      int64_t row = 0;
      for (size_t q = 0; q < chunks2.size(); q++) {
        const auto& cont = reqs[owner[q].first].conts[owner[q].second];
        for (int32_t j = 0; j < chunks2[q].n; j++) {
          want.push_back({l2 + (row++) * V, cont[j + 1]});
          who.push_back(q);
        }
      }
      std::vector<double> lp(want.size());
#pragma omp parallel for schedule(dynamic)
      for (size_t w = 0; w < want.size(); w++)
        lp[w] = log_prob(want[w].first, want[w].second, logsumexp(want[w].first, V));
      for (size_t w = 0; w < want.size(); w++)
        out[owner[who[w]].first][owner[who[w]].second] += lp[w];
    }
    if (on_done) on_done(static_cast<int64_t>(b1));
  }
  return out;
}

std::vector<double> loglik_score_unshared(ModelRef m, const LoglikRequest& r) {
  const int64_t V = m.cfg().vocab, ctxmax = m.cfg().n_ctx;
  std::vector<double> out;
  InferScratch s;
  for (const auto& cont : r.conts) {
    std::vector<int32_t> all = r.ctx;
    all.insert(all.end(), cont.begin(), cont.end());
    if (static_cast<int64_t>(all.size()) > ctxmax + 1)
      all.erase(all.begin(), all.end() - (ctxmax + 1));
    all.pop_back();
    KVCache kv =
        kv_cache_create(m.cfg(), 1, static_cast<int32_t>(all.size()), gpt2_precision(m.base).kv);
    const SeqChunk ch{0, all.data(), static_cast<int32_t>(all.size()),
                      static_cast<int32_t>(cont.size())};
    const float* l = gpt2_infer(m, kv, s, {&ch, 1});
    double sum = 0;
    for (size_t j = 0; j < cont.size(); j++)
      sum += log_prob(l + j * V, cont[j], logsumexp(l + j * V, V));
    out.push_back(sum);
  }
  return out;
}

}  // namespace instruct
