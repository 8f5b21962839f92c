// Recompute generation: one forward over the last n_ctx tokens per new token, LM head on the last
// position only (a -100 target on every other row leaves them out of the head).
#include "infer/generate.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

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
  if (o.top_p < 1.0) {  // smallest prefix (sorted by probability) whose mass reaches top_p
    if (!(o.top_k > 0 && o.top_k < V)) {}  // already sorted
    else std::sort(scratch.begin(), scratch.begin() + n, by_logit);
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
  std::vector<int32_t> seq = prompt, out, targets;
  std::mt19937_64 rng(o.seed);
  std::vector<std::pair<float, int32_t>> scratch;
  for (int32_t i = 0; i < max_new; i++) {
    const int32_t T = std::min<int32_t>(static_cast<int32_t>(seq.size()), m.cfg.n_ctx);
    const int32_t* ctx = seq.data() + seq.size() - T;
    targets.assign(T, -100);
    targets[T - 1] = 0;  // any valid id: only selects the row for the LM head
    gpt2_forward(m, ctx, targets.data(), 1, T, false);
    const int32_t next = sample_token(m.a.logits, m.cfg.vocab, o, rng, scratch);
    if (eos >= 0 && next == eos) break;
    seq.push_back(next);
    out.push_back(next);
  }
  return out;
}

}  // namespace instruct
