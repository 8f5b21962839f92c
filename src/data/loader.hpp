// Batches over tokenized examples, in the order torch.utils.data.DataLoader would give them:
// shuffled with PyTorch's generator (train) or in order (val/test), with or without drop_last.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.hpp"
#include "data/collate.hpp"

namespace instruct {

struct LoaderOptions {
  int32_t batch_size = 8;
  bool shuffle = false;
  bool drop_last = false;
  bool skip_untrainable = false;  // leave out examples with no target that counts in the loss
  // Length buckets (with shuffle): the epoch's shuffled order is cut into chunks of `bucket`
  // batches, each chunk sorted by length and cut into batches, and the batches shuffled. 0: off.
  int32_t bucket = 0;
  CollateOptions collate;
};

class DataLoader {
 public:
  DataLoader(std::span<const Example> examples, const LoaderOptions& opt);
  // A loader that only orders n items (their batches are collated elsewhere: preference pairs).
  DataLoader(size_t n, const LoaderOptions& opt);

  // Batches per epoch (len(loader)).
  size_t size() const;
  // Examples left out because no target of theirs counts (skip_untrainable).
  const std::vector<int32_t>& skipped() const { return skipped_; }
  // Starts an epoch as iter(loader) does: draws the base seed from the global generator, and
  // for a shuffled loader a second seed for the permutation.
  void begin_epoch(TorchGenerator& global);
  // Batch i of the current epoch.
  Batch batch(size_t i) const;
  // Batch i's input tokens, padding included (its numel: the reference's tokens_seen), however it
  // is split into micro-batches or over ranks.
  int64_t padded_tokens(size_t i) const;
  // Part `part` of `parts` equal slices of batch i, collated on its own (gradient accumulation:
  // each micro-batch is padded to its own longest row).
  Batch batch(size_t i, int part, int parts) const;
  // The item indices of batch i of the current epoch (part `part` of `parts`).
  std::vector<int32_t> indices(size_t i, int part = 0, int parts = 1) const;
  // This epoch's order (indices into the examples), to checkpoint; set_order restores it.
  const std::vector<int32_t>& order() const { return order_; }
  void set_order(const std::vector<int32_t>& order);
  const LoaderOptions& options() const { return opt_; }

 private:
  void bucket_order(TorchGenerator& g);

  std::span<const Example> examples_;
  LoaderOptions opt_;
  std::vector<int32_t> kept_;   // indices into examples_
  std::vector<int32_t> order_;  // this epoch's order of kept_
  std::vector<int32_t> skipped_;
};

}  // namespace instruct
