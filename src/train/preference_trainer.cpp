// One forward for the 2B sequences of a batch; the pair losses' gradients become per-sequence
// weights of the log-probability head (divided by B: the batch mean).
#include "train/preference_trainer.hpp"

#include <cmath>
#include <tuple>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

namespace instruct {

PrefTrainer::PrefTrainer(GPT2& policy, const GPT2* reference, const PrefTrainerOptions& o)
    : m_(policy), ref_(reference), o_(o), adam_(adamw_create(gpt2_trainable(policy), o.adam, o.decay_all)) {
  gpt2_use_bf16(m_, o.bf16);
}

namespace {
int64_t cache_key(int split, int32_t entry) { return static_cast<int64_t>(split) << 32 | static_cast<uint32_t>(entry); }

// Data-parallel: a result's terms are each rank's part of a mean; their sums are the means.
void allreduce_means(PrefResult& r) {
  double v[4] = {r.loss, r.reward_chosen, r.reward_rejected, r.accuracy};
  dist_allreduce_sum(v, 4);
  r.loss = v[0], r.reward_chosen = v[1], r.reward_rejected = v[2], r.accuracy = v[3];
}
}  // namespace

void PrefTrainer::set_examples(int split, std::span<const PrefExample> examples, const PrefCollateOptions& collate) {
  Split& s = splits_[split];
  s.examples = examples, s.collate = collate;
  s.position.clear();
  for (size_t i = 0; i < examples.size(); i++) s.position[examples[i].entry] = i;
}

void PrefTrainer::reference_forward(const PrefBatch& b, int split) {
  if (!ref_) fail("internal: a reference log-probability was not precomputed (split ", split, ")");
  // The policy's own base: its forward with the adapter set aside.
  LoraAdapter adapter;
  if (ref_ == &m_) std::swap(adapter, m_.lora);
  gpt2_forward(*ref_, ref_step_, b.tokens.data(), b.lens, b.rows, false);  // no_grad: nothing kept
  const SeqLogprobs lp = logprob_head(*ref_, ref_step_, b.labels, b.seq_of_row, 2 * b.B, o_.mean);
  if (ref_ == &m_) std::swap(adapter, m_.lora);
  for (int k = 0; k < b.B; k++) cache_[cache_key(split, b.entries[k])] = {lp.lp[k], lp.lp[b.B + k]};
}

std::vector<std::pair<double, double>> PrefTrainer::reference(const PrefBatch& b, int split) {
  std::vector<std::pair<double, double>> out(b.B);
  if (!pref_loss_needs_reference(o_.loss)) return out;
  const auto reg = splits_.find(split);
  for (int k = 0; k < b.B; k++) {
    if (cache_.count(cache_key(split, b.entries[k]))) continue;
    if (reg == splits_.end()) {  // nothing registered: the batch as it is
      reference_forward(b, split);
      break;
    }
    const Split& s = reg->second;
    const size_t pos = s.position.at(b.entries[k]), lo = pos / kRefChunk * kRefChunk;
    std::vector<const PrefExample*> chunk;
    for (size_t j = lo; j < std::min(s.examples.size(), lo + kRefChunk); j++) chunk.push_back(&s.examples[j]);
    reference_forward(pref_collate(chunk, s.collate), split);
  }
  for (int k = 0; k < b.B; k++) out[k] = cache_.at(cache_key(split, b.entries[k]));
  return out;
}

PrefResult PrefTrainer::forward(const PrefBatch& b, int split, bool backward, double pairs) {
  PrefResult r;
  if (b.B == 0) return r;
  const auto ref = reference(b, split);
  gpt2_forward(m_, s_, b.tokens.data(), b.lens, b.rows, backward);
  const SeqLogprobs lp = logprob_head(m_, s_, b.labels, b.seq_of_row, 2 * b.B, o_.mean);
  std::vector<double> weight(2 * b.B);
  for (int k = 0; k < b.B; k++) {
    const PairLoss p = pref_pair_loss(o_.loss, o_.params, lp.lp[k], lp.lp[b.B + k], ref[k].first, ref[k].second);
    r.loss += p.loss / pairs;
    r.reward_chosen += p.reward_chosen / pairs;
    r.reward_rejected += p.reward_rejected / pairs;
    r.accuracy += (p.reward_chosen > p.reward_rejected ? 1.0 : 0.0) / pairs;
    weight[k] = p.d_chosen / pairs, weight[b.B + k] = p.d_rejected / pairs;
  }
  if (backward) logprob_head_backward(m_, s_, b.labels, b.seq_of_row, lp, weight, o_.mean);
  return r;
}

PrefResult PrefTrainer::step(const PrefBatch& b, int split, int64_t step_index) {
  const bool parallel = dist().size > 1;
  double pairs = b.B;
  if (parallel) dist_allreduce_sum(&pairs, 1);
  gpt2_zero_grad(m_);
  PrefResult r = forward(b, split, true, pairs);
  if (parallel) allreduce_means(r);
  r.lr = o_.schedule.at(step_index);
  if (!std::isfinite(r.loss) || pairs == 0) return r;  // the same on every rank
  if (b.B > 0) gpt2_backward(m_, s_);
  if (parallel) trainer_allreduce_grads(m_);
  r.grad_norm = trainer_update(m_, adam_, r.lr, o_.max_grad_norm, o_.bf16);
  r.updated = true;
  return r;
}

PrefResult PrefTrainer::measure(const PrefBatch& b, int split) { return forward(b, split, false, b.B); }

PrefResult PrefTrainer::evaluate(DataLoader& loader, TorchGenerator& global, int n, std::span<const PrefExample> examples,
                                 const PrefCollateOptions& collate, int split) {
  loader.begin_epoch(global);
  const size_t k = std::min<size_t>(n, loader.size());
  PrefResult sum;
  if (k == 0) {
    sum.loss = sum.reward_chosen = sum.reward_rejected = sum.accuracy = std::nan("");
    return sum;
  }
  // Data-parallel: each rank measures every size-th batch; the ranks' sums add up to the mean.
  const Dist& par = dist();
  for (size_t i = par.rank; i < k; i += par.size) {
    std::vector<const PrefExample*> items;
    for (int32_t j : loader.indices(i)) items.push_back(&examples[j]);
    const PrefResult r = measure(pref_collate(items, collate), split);
    sum.loss += r.loss / k, sum.reward_chosen += r.reward_chosen / k, sum.reward_rejected += r.reward_rejected / k;
    sum.accuracy += r.accuracy / k;
  }
  if (par.size > 1) allreduce_means(sum);
  return sum;
}

void PrefTrainer::precompute(int split) {
  const Split& s = splits_.at(split);
  const Dist& par = dist();
  auto mine = [&](size_t j) { return j / kRefChunk % par.size == static_cast<size_t>(par.rank); };
  for (size_t lo = 0; lo < s.examples.size(); lo += kRefChunk) {
    if (!mine(lo)) continue;
    std::vector<const PrefExample*> chunk;
    bool missing = false;
    for (size_t j = lo; j < std::min(s.examples.size(), lo + kRefChunk); j++) {
      chunk.push_back(&s.examples[j]);
      missing = missing || !cache_.count(cache_key(split, s.examples[j].entry));
    }
    if (missing) reference_forward(pref_collate(chunk, s.collate), split);
  }
  if (par.size == 1) return;
  // Each chunk was computed on one rank (the same numbers as anywhere: a chunk is fixed); the
  // sum over ranks, zeros elsewhere, hands every rank all of them.
  std::vector<double> v(2 * s.examples.size(), 0.0);
  for (size_t j = 0; j < s.examples.size(); j++)
    if (mine(j)) std::tie(v[2 * j], v[2 * j + 1]) = cache_.at(cache_key(split, s.examples[j].entry));
  dist_allreduce_sum(v.data(), v.size());
  for (size_t j = 0; j < s.examples.size(); j++) cache_[cache_key(split, s.examples[j].entry)] = {v[2 * j], v[2 * j + 1]};
}

}  // namespace instruct
