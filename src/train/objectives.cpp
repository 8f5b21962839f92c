// The objectives by name: each one's data from the prepared dataset, and its one log line.
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "core/sys.hpp"
#include "io/model_source.hpp"
#include "train/objective.hpp"
#include "train/preference.hpp"
#include "train/sft.hpp"

namespace instruct {

double metric(const Metrics& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  return std::nan("");
}

namespace {

// DPO: the chosen/rejected pairs of the train and val splits, encoded as the book's
// PreferenceDataset; its reference the policy's frozen base (LoRA) or a frozen copy of the
// starting model (on a resume, the starting model again: the checkpoint holds the policy).
class DpoData {
 public:
  std::vector<PrefExample> train, val;
};

std::unique_ptr<Objective> make_dpo(const ObjectiveContext& c) {
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
    Owning(std::shared_ptr<DpoData> d, GPT2& m, const GPT2* ref, const PrefOptions& po, bool pre)
        : PreferenceObjective(m, ref, std::nullopt, po, d->train, d->val),
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
  auto obj = std::make_unique<Owning>(data, c.model, ref, po, needs && o.precompute_reference);
  obj->keep_base = lora;
  obj->copy = needs && !lora, obj->resuming = c.resuming, obj->source = o.model;
  return obj;
}

}  // namespace

std::unique_ptr<Objective> objective_create(const ObjectiveContext& c) {
  const TrainOptions& o = c.opt;
  if (o.objective == "dpo") return make_dpo(c);
  if (o.objective != "sft") fail("the objective ", o.objective, " is unknown; use sft or dpo");
  return std::make_unique<SftObjective>(
      c.model, c.data.train, c.data.val, loader_options(o.data, SplitName::kTrain, c.data.bpe.eot),
      loader_options(o.data, SplitName::kVal, c.data.bpe.eot), o.pack);
}

}  // namespace instruct
