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
  if (opt_.bucket > 0 && !examples_.empty()) bucket_order(g);
}

void DataLoader::bucket_order(TorchGenerator& g) {
  // Only the items of whole batches move (drop_last leaves the tail out as it is). The draws come
  // from the sampler's own generator, after its permutation: the global one sees no difference.
  const size_t bs = static_cast<size_t>(opt_.batch_size), nb = size();
  const size_t used = std::min(order_.size(), nb * bs);
  const size_t chunk = static_cast<size_t>(opt_.bucket) * bs;
  const auto len = [&](int32_t k) { return examples_[k].tokens.size(); };
  for (size_t lo = 0; lo < used; lo += chunk) {
    const auto first = order_.begin() + static_cast<std::ptrdiff_t>(lo);
    std::stable_sort(first, first + static_cast<std::ptrdiff_t>(std::min(chunk, used - lo)),
                     [&](int32_t a, int32_t b) { return len(a) < len(b); });
  }
  const std::vector<int64_t> batches = g.randperm(static_cast<int64_t>(nb));
  std::vector<int32_t> order;
  order.reserve(order_.size());
  for (const int64_t b : batches) {
    const size_t lo = static_cast<size_t>(b) * bs;
    order.insert(order.end(), order_.begin() + static_cast<std::ptrdiff_t>(lo),
                 order_.begin() + static_cast<std::ptrdiff_t>(std::min(lo + bs, used)));
  }
  order.insert(order.end(), order_.begin() + static_cast<std::ptrdiff_t>(order.size()),
               order_.end());
  order_ = std::move(order);
}

Batch DataLoader::batch(size_t i) const {
  return batch(i, 0, 1);
}

int64_t DataLoader::padded_tokens(size_t i) const {
  std::vector<const Example*> items;
  for (int32_t k : indices(i)) items.push_back(&examples_[k]);
  return static_cast<int64_t>(items.size()) * collate_length(items, opt_.collate);
}

std::vector<int32_t> DataLoader::indices(size_t i, int part, int parts) const {
  if (i >= size()) fail("internal: batch ", i, " of a loader with ", size(), " batches");
  if (parts < 1 || part < 0 || part >= parts) fail("internal: micro-batch ", part, " of ", parts);
  const size_t bs = static_cast<size_t>(opt_.batch_size);
  const size_t blo = i * bs, bhi = std::min(blo + bs, order_.size()), n = bhi - blo;
  const size_t lo = blo + n * part / parts, hi = blo + n * (part + 1) / parts;
  return std::vector<int32_t>(order_.begin() + static_cast<std::ptrdiff_t>(lo),
                              order_.begin() + static_cast<std::ptrdiff_t>(hi));
}

Batch DataLoader::batch(size_t i, int part, int parts) const {
  if (examples_.empty() && !kept_.empty())
    fail("internal: this loader orders items it does not hold");
  std::vector<const Example*> items;
  for (int32_t k : indices(i, part, parts)) items.push_back(&examples_[k]);
  return collate(items, opt_.collate);
}

void DataLoader::set_order(const std::vector<int32_t>& order) {
  std::vector<int32_t> a = order, b = kept_;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b)
    fail("the saved batch order does not match this data (", order.size(), " entries saved, ",
         kept_.size(), " now); resume with the same data and options");
  order_ = order;
}

}  // namespace instruct
