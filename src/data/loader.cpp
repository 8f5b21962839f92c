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

DataLoader::DataLoader(size_t n, const LoaderOptions& opt) : opt_(opt) {
  if (opt_.batch_size < 1) fail("batch size ", opt_.batch_size, " is invalid; use 1 or more");
  kept_.resize(n);
  std::iota(kept_.begin(), kept_.end(), 0);
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

Batch DataLoader::batch(size_t i) const { return batch(i, 0, 1); }

std::vector<int32_t> DataLoader::indices(size_t i, int part, int parts) const {
  if (i >= size()) fail("internal: batch ", i, " of a loader with ", size(), " batches");
  if (parts < 1 || part < 0 || part >= parts) fail("internal: micro-batch ", part, " of ", parts);
  const size_t bs = static_cast<size_t>(opt_.batch_size);
  const size_t blo = i * bs, bhi = std::min(blo + bs, order_.size()), n = bhi - blo;
  const size_t lo = blo + n * part / parts, hi = blo + n * (part + 1) / parts;
  return std::vector<int32_t>(order_.begin() + static_cast<std::ptrdiff_t>(lo), order_.begin() + static_cast<std::ptrdiff_t>(hi));
}

Batch DataLoader::batch(size_t i, int part, int parts) const {
  if (examples_.empty() && !kept_.empty()) fail("internal: this loader orders items it does not hold");
  std::vector<const Example*> items;
  for (int32_t k : indices(i, part, parts)) items.push_back(&examples_[k]);
  return collate(items, opt_.collate);
}

void DataLoader::set_order(const std::vector<int32_t>& order) {
  std::vector<int32_t> a = order, b = kept_;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b)
    fail("the saved batch order does not match this data (", order.size(), " entries saved, ", kept_.size(),
         " now); resume with the same data and options");
  order_ = order;
}

}  // namespace instruct
