// The preference trainer (the book's train_model_dpo_simple step and compute_dpo_loss_loader):
// per batch, the policy's per-sequence log-probabilities of the chosen and rejected answers (one
// forward over both, packed), the reference's (a frozen model, forward only and cached per
// example: they never change), a pair loss (train/preference_loss), its gradient through the
// log-probability head, clipping and AdamW over the policy's trainable block (its LoRA adapter
// when it has one). The pipeline owns data, schedule, checkpoints and logs.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/rng.hpp"
#include "data/loader.hpp"
#include "data/preference.hpp"
#include "model/gpt2.hpp"
#include "train/optimizer.hpp"
#include "train/preference_loss.hpp"

namespace instruct {

struct PrefTrainerOptions {
  AdamWHyper adam;
  bool decay_all = true;
  LrSchedule schedule;
  double max_grad_norm = 0;
  bool bf16 = false;
  PrefLoss loss = PrefLoss::kDpo;
  PrefLossParams params;
  bool mean = true;  // per-token mean log-probabilities (the book); false: sums (the DPO paper, TRL)
};

struct PrefResult {
  double loss = 0, reward_chosen = 0, reward_rejected = 0;  // means over the batch's pairs
  double accuracy = 0;                                      // pairs with reward_chosen > reward_rejected
  double lr = 0, grad_norm = -1;
  bool updated = false;
  double margin() const { return reward_chosen - reward_rejected; }
};

class PrefTrainer {
 public:
  // `reference` may be null for losses without one (simpo, orpo), or once precompute() has run;
  // `reference == &policy` means the policy's base: its forward without the LoRA adapter (a LoRA
  // policy's reference is its own frozen base, so the weights are held once).
  PrefTrainer(GPT2& policy, const GPT2* reference, const PrefTrainerOptions& o);
  // One optimizer step on batch b of split `split` (the key of the reference cache). Under
  // mpirun, b is this rank's share of the step's pairs (possibly none): the results are means over
  // every rank's pairs, and the gradients their sum.
  PrefResult step(const PrefBatch& b, int split, int64_t step_index);
  // The loss and rewards without a gradient (evaluation).
  PrefResult measure(const PrefBatch& b, int split);
  // The mean loss and rewards of the first min(n, len) batches of a fresh pass over `loader` (its
  // order drawn from `global` as iter(DataLoader) does: the book's compute_dpo_loss_loader).
  PrefResult evaluate(DataLoader& loader, TorchGenerator& global, int n, std::span<const PrefExample> examples,
                      const PrefCollateOptions& collate, int split);
  // Registers a split's examples: the reference log-probabilities of a missing pair are then
  // computed with its fixed chunk of kRefChunk neighbours (by position), never with whatever batch
  // asked. The values so never depend on the training order: a resumed run, a precomputed one and
  // an uninterrupted one use the same numbers to the bit.
  void set_examples(int split, std::span<const PrefExample> examples, const PrefCollateOptions& collate);
  static constexpr int kRefChunk = 8;
  // Computes and caches the reference log-probabilities of every registered example of the split
  // (under mpirun each rank computes every size-th chunk, and the ranks exchange them).
  void precompute(int split);
  // Forgets the reference model (after precompute: every later batch must be cached).
  void drop_reference() { ref_ = nullptr; }

  AdamW& optimizer() { return adam_; }

 private:
  // Means over `pairs` pairs (b's own, or under mpirun the step's on every rank).
  PrefResult forward(const PrefBatch& b, int split, bool backward, double pairs);
  // The reference's (chosen, rejected) log-probabilities of each pair of b.
  std::vector<std::pair<double, double>> reference(const PrefBatch& b, int split);

  GPT2& m_;
  const GPT2* ref_;
  PrefTrainerOptions o_;
  AdamW adam_;
  GPT2Step s_, ref_step_;
  std::unordered_map<int64_t, std::pair<double, double>> cache_;  // (split, entry) -> (rc, rr)
  struct Split {
    std::span<const PrefExample> examples;
    PrefCollateOptions collate;
    std::unordered_map<int32_t, size_t> position;  // entry -> index in examples
  };
  std::unordered_map<int, Split> splits_;
  // Runs the reference on a batch and caches its pairs' log-probabilities.
  void reference_forward(const PrefBatch& b, int split);
};

}  // namespace instruct
