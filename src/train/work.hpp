// What an objective's steps and evaluations compute, in units the estimate's cost model prices:
// an objective describes its work per epoch, the estimate (pipeline/estimate) turns it into time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "data/collate.hpp"

namespace instruct {

// The work of one forward over a batch: tokens run (M), the attention's sum of squared sequence
// lengths (Q), and rows whose logits are computed (R, the LM head). A padded batch with `pack`
// runs each row up to its last counted target, as gpt2_loss does.
struct Work {
  double tokens = 0, quad = 0, rows = 0;
};
Work batch_work(const Batch& b, bool pack);
// Sequences of these lengths packed back to back, with `rows` logits.
Work packed_work(std::span<const int32_t> lens, size_t rows);

// An objective's work over one epoch (the first epoch's batches stand for every epoch's).
struct WorkPlan {
  std::vector<std::vector<Work>>
      steps;                     // batch bi: each part's forward + backward (parts = ga x ranks)
  std::vector<Work> train_eval;  // each train batch, a forward alone (evaluations draw from them)
  std::vector<Work> val_eval;    // the val batches in order, a forward alone
  std::vector<Work> once;  // forwards done once per item over the epoch (DPO: the reference's)
};

}  // namespace instruct
