// Preference tuning (the book's DPO bonus, and its cousins in train/preference_loss): per batch,
// the policy's per-sequence log-probabilities of the chosen and rejected answers (one forward over
// both, packed), the reference's (a frozen model, forward only and cached per example: they never
// change), a pair loss, and its gradient through the log-probability head. The evaluation is the
// book's compute_dpo_loss_loader: the mean loss and reward margin.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/preference.hpp"
#include "model/gpt2.hpp"
#include "train/objective.hpp"
#include "train/preference_loss.hpp"

namespace instruct {

struct PrefOptions {
  PrefLoss loss = PrefLoss::kDpo;
  PrefLossParams params;
  bool mean =
      true;  // per-token mean log-probabilities (the book); false: sums (the DPO paper, TRL)
  PrefCollateOptions collate;
  LoaderOptions loader;  // the train loader's (val: in order, all batches)
};

class PreferenceObjective : public Objective {
 public:
  // `adapter`: with LoRA what trains on the frozen policy (off: the policy trains). `reference`: a
  // frozen model, `&policy` for a LoRA policy's own base (the same weights run without the
  // adapter), or null for losses without one. `own` (optional) is a reference copy it keeps and
  // frees in drop_reference.
  PreferenceObjective(GPT2& policy, LoraAdapter& adapter, const GPT2* reference,
                      std::optional<GPT2> own, const PrefOptions& o,
                      std::span<const PrefExample> train, std::span<const PrefExample> val);
  std::vector<MetricSpec> metrics() const override;
  DataLoader loader(SplitName split) const override;
  size_t items(SplitName split) const override { return examples(split).size(); }
  const char* item_name() const override { return "pairs"; }
  int64_t tokens(std::span<const int32_t> batch) const override;
  int64_t count(std::span<const int32_t> part) const override {
    return static_cast<int64_t>(part.size());
  }
  PartResult forward(std::span<const int32_t> part, int64_t total, int64_t step) override;
  void backward(const GradReady* ready) override;
  Metrics evaluate(DataLoader& l, TorchGenerator& g, int n, SplitName split) override;
  int64_t memory_bytes(const GPT2Config& c, bool lora, int B, int T, bool recompute) const override;
  int longest() const override;
  int sequences_per_item() const override { return 2; }
  WorkPlan work(int parts, bool pack, uint64_t seed) const override;
  GPT2Step& step_scratch() override { return s_; }

  // A reference log-probability is computed with its fixed chunk of kRefChunk neighbours (by
  // position in the split), never with whatever batch asked: a resumed run, a precomputed one and
  // an uninterrupted one use the same numbers to the bit.
  static constexpr int kRefChunk = 8;
  // Computes and caches the reference log-probabilities of every example of the split (under
  // mpirun each rank computes every size-th chunk, and the ranks exchange them).
  void precompute(SplitName split);
  // Forgets the reference model (after precompute: every later batch must be cached).
  void drop_reference();
  // Takes a frozen copy as the reference (made once the policy is loaded).
  void set_reference(std::optional<GPT2> own);

 private:
  std::span<const PrefExample> examples(SplitName s) const {
    return s == SplitName::kTrain ? train_ : val_;
  }
  PrefBatch collate_items(std::span<const int32_t> items, SplitName split) const;
  struct Measured {
    double loss = 0, chosen = 0, rejected = 0, accuracy = 0, margin = 0;  // sums over the pairs
  };
  // The batch's losses and rewards; with `backward`, dloss/dlogits of the mean over `total`.
  Measured measure(const PrefBatch& b, SplitName split, bool backward, double total);
  std::vector<std::pair<double, double>> reference(const PrefBatch& b, SplitName split);
  void reference_forward(const PrefBatch& b, SplitName split);

  GPT2& m_;
  LoraAdapter& lora_;
  const GPT2* ref_;
  std::optional<GPT2> own_;
  PrefOptions o_;
  std::span<const PrefExample> train_, val_;
  GPT2Step s_, ref_step_;
  bool have_grad_ = false;
  std::unordered_map<int64_t, std::pair<double, double>> cache_;  // (split, entry) -> (rc, rr)
  std::unordered_map<int32_t, size_t> position_[2];               // entry -> index, per split
};

// `instruct dpo`: the pairs of the prepared data's train and val splits (the book's
// PreferenceDataset), the loss the options name, and the reference (the policy's frozen base with
// LoRA, else a frozen copy made in prepare()).
std::unique_ptr<Objective> preference_objective_create(const ObjectiveContext& c);

}  // namespace instruct
