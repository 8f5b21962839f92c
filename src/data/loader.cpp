// DataLoader: RandomSampler/SequentialSampler + BatchSampler semantics of torch 1.13.
#include "data/loader.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace instruct {

DataLoader::DataLoader(std::span<const Example> examples, const LoaderOptions& opt)
    : examples_(examples), opt_(opt) {
  if (opt_.batch_size < 1) fail("batch size ", opt_.batch_size, " is invalid; use 1 or more");
  for (size_t i = 0; i < examples_.size(); i++) {
    if (opt_.skip_untrainable && collate_counted(examples_[i], opt_.collate) == 0)
      skipped_.push_back(static_cast<int32_t>(i));
    else
      kept_.push_back(static_cast<int32_t>(i));
  }
  order_ = kept_;
}

size_t DataLoader::size() const {
  const size_t n = kept_.size(), bs = static_cast<size_t>(opt_.batch_size);
  return opt_.drop_last ? n / bs : (n + bs - 1) / bs;
}

void DataLoader::begin_epoch(TorchGenerator& global) {
  (void)global.random_int64();  // _BaseDataLoaderIter._base_seed
  if (!opt_.shuffle) return;
  TorchGenerator g(static_cast<uint64_t>(global.random_int64()));  // RandomSampler's generator
  const std::vector<int64_t> perm = g.randperm(static_cast<int64_t>(kept_.size()));
  for (size_t i = 0; i < perm.size(); i++) order_[i] = kept_[perm[i]];
}

Batch DataLoader::batch(size_t i) const {
  if (i >= size()) fail("internal: batch ", i, " of a loader with ", size(), " batches");
  const size_t bs = static_cast<size_t>(opt_.batch_size);
  const size_t lo = i * bs, hi = std::min(lo + bs, order_.size());
  std::vector<const Example*> items;
  for (size_t k = lo; k < hi; k++) items.push_back(&examples_[order_[k]]);
  return collate(items, opt_.collate);
}

}  // namespace instruct
