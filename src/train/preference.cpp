// One forward for the 2B sequences of a part; the pair losses' gradients become per-sequence
// weights of the log-probability head (divided by the step's pairs: the batch mean).
#include "train/preference.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/sys.hpp"
#include "io/model_source.hpp"

namespace instruct {

namespace {
int64_t cache_key(SplitName split, int32_t entry) {
  return static_cast<int64_t>(split == SplitName::kTrain ? 0 : 1) << 32 |
         static_cast<uint32_t>(entry);
}
int split_index(SplitName s) {
  return s == SplitName::kTrain ? 0 : 1;
}
}  // namespace

PreferenceObjective::PreferenceObjective(GPT2& policy, LoraAdapter& adapter, const GPT2* reference,
                                         std::optional<GPT2> own, const PrefOptions& o,
                                         std::span<const PrefExample> train,
                                         std::span<const PrefExample> val)
    : m_(policy),
      lora_(adapter),
      ref_(reference),
      own_(std::move(own)),
      o_(o),
      train_(train),
      val_(val) {
  if (own_) ref_ = &*own_;
  for (SplitName s : {SplitName::kTrain, SplitName::kVal})
    for (size_t i = 0; i < examples(s).size(); i++)
      position_[split_index(s)][examples(s)[i].entry] = i;
}

std::vector<MetricSpec> PreferenceObjective::metrics() const {
  return {
      {"loss", "loss", "Training loss", "Validation loss", "loss-plot", "Loss", "Training loss",
       "Validation loss"},
      {"reward_margin", "reward margins", "Train reward margin", "Val reward margin",
       "reward-margins", "Reward margins", "Train reward margins", "Validation reward margins"}};
}

DataLoader PreferenceObjective::loader(SplitName split) const {
  LoaderOptions lo = o_.loader;
  lo.skip_untrainable = false;
  if (split != SplitName::kTrain) lo.shuffle = false, lo.drop_last = false, lo.bucket = 0;
  return DataLoader(examples(split).size(), lo);
}

PrefBatch PreferenceObjective::collate_items(std::span<const int32_t> items,
                                             SplitName split) const {
  std::vector<const PrefExample*> v;
  for (int32_t j : items) v.push_back(&examples(split)[j]);
  return pref_collate(v, o_.collate);
}

int64_t PreferenceObjective::tokens(std::span<const int32_t> batch) const {
  std::vector<const PrefExample*> v;
  for (int32_t j : batch) v.push_back(&train_[j]);
  return pref_common_length(v, o_.collate) *
         static_cast<int64_t>(v.size());  // batch["chosen"].numel()
}

void PreferenceObjective::reference_forward(const PrefBatch& b, SplitName split) {
  if (!ref_)
    fail("internal: a reference log-probability was not precomputed (", split_name(split), ")");
  // The reference runs without an adapter: a frozen copy, or the LoRA policy's own base.
  gpt2_forward(*ref_, ref_step_, b.tokens.data(), b.lens, b.rows, false);  // no_grad: nothing kept
  const SeqLogprobs lp = logprob_head(*ref_, ref_step_, b.labels, b.seq_of_row, 2 * b.B, o_.mean);
  for (int k = 0; k < b.B; k++) cache_[cache_key(split, b.entries[k])] = {lp.lp[k], lp.lp[b.B + k]};
}

std::vector<std::pair<double, double>> PreferenceObjective::reference(const PrefBatch& b,
                                                                      SplitName split) {
  std::vector<std::pair<double, double>> out(b.B);
  if (!pref_loss_needs_reference(o_.loss)) return out;
  const auto& position = position_[split_index(split)];
  const auto ex = examples(split);
  for (int k = 0; k < b.B; k++) {
    if (cache_.count(cache_key(split, b.entries[k]))) continue;
    const size_t pos = position.at(b.entries[k]), lo = pos / kRefChunk * kRefChunk;
    std::vector<const PrefExample*> chunk;
    for (size_t j = lo; j < std::min(ex.size(), lo + kRefChunk); j++) chunk.push_back(&ex[j]);
    reference_forward(pref_collate(chunk, o_.collate), split);
  }
  for (int k = 0; k < b.B; k++) out[k] = cache_.at(cache_key(split, b.entries[k]));
  return out;
}

PreferenceObjective::Measured PreferenceObjective::measure(const PrefBatch& b, SplitName split,
                                                           bool backward, double total) {
  Measured r;
  if (b.B == 0) return r;
  const auto ref = reference(b, split);
  gpt2_forward({m_, &lora_}, s_, b.tokens.data(), b.lens, b.rows, backward);
  const SeqLogprobs lp = logprob_head(m_, s_, b.labels, b.seq_of_row, 2 * b.B, o_.mean);
  std::vector<double> weight(2 * b.B);
  for (int k = 0; k < b.B; k++) {
    const PairLoss p =
        pref_pair_loss(o_.loss, o_.params, lp.lp[k], lp.lp[b.B + k], ref[k].first, ref[k].second);
    r.loss += p.loss / total;
    r.chosen += p.reward_chosen / total;
    r.rejected += p.reward_rejected / total;
    r.accuracy += (p.reward_chosen > p.reward_rejected ? 1.0 : 0.0) / total;
    weight[k] = p.d_chosen / total, weight[b.B + k] = p.d_rejected / total;
  }
  r.margin = r.chosen - r.rejected;
  if (backward) logprob_head_backward(m_, s_, b.labels, b.seq_of_row, lp, weight, o_.mean);
  return r;
}

PartResult PreferenceObjective::forward(std::span<const int32_t> part, int64_t total, int64_t) {
  have_grad_ = false;
  PartResult out;
  if (part.empty() || total <= 0) return out;
  // Means over the step's pairs; the trainer divides sums by the count, so they are scaled back.
  const double n = static_cast<double>(total);
  const Measured r = measure(collate_items(part, SplitName::kTrain), SplitName::kTrain, true, n);
  have_grad_ = true;
  out.loss = r.loss * n;
  out.sums = {{"reward_chosen", r.chosen * n},
              {"reward_rejected", r.rejected * n},
              {"reward_margin", r.margin * n},
              {"accuracy", r.accuracy * n}};
  return out;
}

void PreferenceObjective::backward(const GradReady* ready) {
  if (have_grad_) gpt2_backward(m_, s_, ready);
}

Metrics PreferenceObjective::evaluate(DataLoader& loader, TorchGenerator& global, int n,
                                      SplitName split) {
  loader.begin_epoch(global);
  const size_t k = std::min<size_t>(n, loader.size());
  if (k == 0) return {{"loss", std::nan("")}, {"reward_margin", std::nan("")}};
  // Data-parallel: each rank measures every size-th batch; the ranks' sums add up to the mean.
  const Dist& par = dist();
  double v[3] = {0, 0, 0};  // loss, chosen, rejected
  for (size_t i = par.rank; i < k; i += par.size) {
    const std::vector<int32_t> items = loader.indices(i);
    const PrefBatch b = collate_items(items, split);
    const Measured r = measure(b, split, false, b.B);
    v[0] += r.loss / k, v[1] += r.chosen / k, v[2] += r.rejected / k;
  }
  if (par.size > 1) dist_allreduce_sum(v, 3);
  return {{"loss", v[0]}, {"reward_margin", v[1] - v[2]}};
}

int64_t PreferenceObjective::memory_bytes(const GPT2Config& c, bool lora, int B, int T,
                                          bool recompute) const {
  // Chosen and rejected: twice the sequences; a reference model of its own unless LoRA shares the
  // base.
  const bool copy = pref_loss_needs_reference(o_.loss) && !lora;
  return gpt2_activation_bytes(c, 2 * B, T, recompute) +
         (copy ? param_count(param_table(c)) * static_cast<int64_t>(sizeof(float)) : 0);
}

int PreferenceObjective::longest() const {
  size_t n = 1;
  for (auto split : {train_, val_})
    for (const PrefExample& e : split)
      n = std::max({n, e.chosen.size() + 1, e.rejected.size() + 1});
  return static_cast<int>(std::min<size_t>(n, o_.collate.max_length ? o_.collate.max_length : n));
}

WorkPlan PreferenceObjective::work(int parts, bool, uint64_t seed) const {
  WorkPlan w;
  auto work_of = [&](std::span<const int32_t> items, SplitName split) {
    const PrefBatch b = collate_items(items, split);
    return packed_work(b.lens, b.rows.size());
  };
  DataLoader train = loader(SplitName::kTrain);
  TorchGenerator g(seed);
  train.begin_epoch(g);
  for (size_t bi = 0; bi < train.size(); bi++) {
    std::vector<Work> step;
    for (int k = 0; k < parts; k++)
      step.push_back(work_of(train.indices(bi, k, parts), SplitName::kTrain));
    w.steps.push_back(std::move(step));
    w.train_eval.push_back(work_of(train.indices(bi), SplitName::kTrain));
  }
  DataLoader val = loader(SplitName::kVal);
  val.begin_epoch(g);
  for (size_t i = 0; i < val.size(); i++)
    w.val_eval.push_back(work_of(val.indices(i), SplitName::kVal));
  if (pref_loss_needs_reference(o_.loss))  // each pair's reference once, by fixed chunks
    for (SplitName s : {SplitName::kTrain, SplitName::kVal})
      for (size_t lo = 0; lo < examples(s).size(); lo += kRefChunk) {
        std::vector<int32_t> chunk;
        for (size_t j = lo; j < std::min(examples(s).size(), lo + kRefChunk); j++)
          chunk.push_back(static_cast<int32_t>(j));
        w.once.push_back(work_of(chunk, s));
      }
  return w;
}

void PreferenceObjective::precompute(SplitName split) {
  const auto ex = examples(split);
  const Dist& par = dist();
  auto mine = [&](size_t j) { return j / kRefChunk % par.size == static_cast<size_t>(par.rank); };
  for (size_t lo = 0; lo < ex.size(); lo += kRefChunk) {
    if (!mine(lo)) continue;
    std::vector<const PrefExample*> chunk;
    bool missing = false;
    for (size_t j = lo; j < std::min(ex.size(), lo + kRefChunk); j++) {
      chunk.push_back(&ex[j]);
      missing = missing || !cache_.count(cache_key(split, ex[j].entry));
    }
    if (missing) reference_forward(pref_collate(chunk, o_.collate), split);
  }
  if (par.size == 1) return;
  // Each chunk was computed on one rank (the same numbers as anywhere: a chunk is fixed); the
  // sum over ranks, zeros elsewhere, hands every rank all of them.
  std::vector<double> v(2 * ex.size(), 0.0);
  for (size_t j = 0; j < ex.size(); j++)
    if (mine(j)) std::tie(v[2 * j], v[2 * j + 1]) = cache_.at(cache_key(split, ex[j].entry));
  dist_allreduce_sum(v.data(), v.size());
  for (size_t j = 0; j < ex.size(); j++)
    cache_[cache_key(split, ex[j].entry)] = {v[2 * j], v[2 * j + 1]};
}

void PreferenceObjective::set_reference(std::optional<GPT2> own) {
  own_ = std::move(own);
  if (own_) ref_ = &*own_;
}

void PreferenceObjective::drop_reference() {
  ref_ = nullptr;
  own_.reset();
}

// DPO: the chosen/rejected pairs of the train and val splits, encoded as the book's
// PreferenceDataset; its reference the policy's frozen base (LoRA) or a frozen copy of the
// starting model (on a resume, the starting model again: the checkpoint holds the policy).
class DpoData {
 public:
  std::vector<PrefExample> train, val;
};

std::unique_ptr<Objective> preference_objective_create(const ObjectiveContext& c) {
  const TrainOptions& o = c.opt;
  PreparedData& d = c.data;
  const SpecialTokens special =
      o.data.allow_special ? SpecialTokens::kAllow : SpecialTokens::kAsText;
  const std::vector<Preference> prefs = preference_fields(d.dataset);
  const std::span<const Preference> all(prefs);
  const auto train_prefs = all.subspan(0, d.split.train.size());
  const auto val_prefs =
      all.subspan(d.split.train.size() + d.split.test.size(), d.split.val.size());
  auto data = std::make_shared<DpoData>();
  data->train = pref_examples_build(d.split.train, train_prefs, *d.tmpl, d.bpe, special);
  data->val = pref_examples_build(d.split.val, val_prefs, *d.tmpl, d.bpe, special);
  const std::vector<int32_t> equal = preference_equal_pairs(train_prefs);
  if (!equal.empty()) {
    std::string which;
    for (int32_t i : equal) which += (which.empty() ? "" : ", ") + std::to_string(i);
    c.log << "note      " << equal.size() << " train pairs have chosen == rejected (train entries "
          << which << "); "
          << (o.skip_equal_pairs ? "dropped (--skip-equal-pairs)"
                                 : "kept, as the book does (--skip-equal-pairs drops them)")
          << "\n";
    if (o.skip_equal_pairs)
      for (auto it = equal.rbegin(); it != equal.rend(); ++it)
        data->train.erase(data->train.begin() + *it);
  }
  PrefOptions po;
  po.loss = pref_loss_parse(o.loss);
  po.params.beta = o.beta, po.params.label_smoothing = o.label_smoothing;
  po.params.gamma = o.simpo_gamma, po.params.lambda = o.orpo_lambda;
  po.mean = o.logprob == "mean";
  po.collate = {o.data.max_length, true};
  po.loader = loader_options(o.data, SplitName::kTrain, d.bpe.eot);
  const bool needs = pref_loss_needs_reference(po.loss);
  const bool lora = o.lora_rank > 0;
  c.log << "dpo       loss " << o.loss << ", beta " << o.beta << ", " << o.logprob
        << " log-probabilities; reference: "
        << (!needs ? "none (" + o.loss + ")"
            : lora ? "the frozen base (LoRA)"
                   : "a frozen copy")
        << (needs ? o.precompute_reference ? ", precomputed" : ", cached per pair" : "") << "\n";
  // The objective keeps views of the pairs: they live as long as it does. Its reference copy is
  // made once the policy is loaded: a copy of it, or on a resume the starting model again.
  struct Owning : PreferenceObjective {
    std::shared_ptr<DpoData> keep;
    bool precompute, copy, resuming;
    size_t pairs;
    GPT2& policy;
    ModelOptions source;
    Owning(std::shared_ptr<DpoData> d, GPT2& m, LoraAdapter& a, const GPT2* ref,
           const PrefOptions& po, bool pre)
        : PreferenceObjective(m, a, ref, std::nullopt, po, d->train, d->val),
          keep(d),
          precompute(pre),
          copy(false),
          resuming(false),
          pairs(d->train.size() + d->val.size()),
          policy(m) {}
    void prepare(std::ostream& log) override {
      if (copy) {
        std::ostringstream quiet;
        set_reference(resuming ? model_resolve(source, quiet) : gpt2_clone_params(policy));
      }
      if (!precompute) return;
      Timer t;
      PreferenceObjective::precompute(SplitName::kTrain);
      PreferenceObjective::precompute(SplitName::kVal);
      drop_reference();
      log << "reference log-probabilities of " << pairs << " pairs in "
          << format_duration(t.seconds()) << (keep_base ? "" : "; the reference model is freed")
          << "\n";
    }
    bool keep_base = false;
  };
  const GPT2* ref = needs && lora ? &c.model : nullptr;
  auto obj =
      std::make_unique<Owning>(data, c.model, c.adapter, ref, po, needs && o.precompute_reference);
  obj->keep_base = lora;
  obj->copy = needs && !lora, obj->resuming = c.resuming, obj->source = o.model;
  return obj;
}

}  // namespace instruct
