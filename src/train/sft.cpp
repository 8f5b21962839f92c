// Each part is collated as the loader collates its batch; gpt2_loss packs it and leaves
// dloss/dlogits, divided by the step's count of targets, for the backward.
#include "train/sft.hpp"

#include <algorithm>

namespace instruct {

SftObjective::SftObjective(GPT2& model, LoraAdapter& adapter, std::span<const Example> train,
                           std::span<const Example> val, const LoaderOptions& train_lo,
                           const LoaderOptions& val_lo, bool pack)
    : m_(model),
      lora_(adapter),
      train_(train),
      val_(val),
      train_lo_(train_lo),
      val_lo_(val_lo),
      pack_(pack),
      eval_({model, &adapter}, s_, pack) {}

std::vector<MetricSpec> SftObjective::metrics() const {
  return {{"loss", "loss", "Training loss", "Validation loss", "loss-plot", "Loss", "Training loss",
           "Validation loss"}};
}

DataLoader SftObjective::loader(SplitName split) const {
  return split == SplitName::kTrain ? DataLoader(train_, train_lo_) : DataLoader(val_, val_lo_);
}

size_t SftObjective::items(SplitName split) const {
  return split == SplitName::kTrain ? train_.size() : val_.size();
}

Batch SftObjective::batch(std::span<const int32_t> part) const {
  std::vector<const Example*> items;
  for (int32_t k : part) items.push_back(&train_[k]);
  return collate(items, train_lo_.collate);
}

int64_t SftObjective::tokens(std::span<const int32_t> batch) const {
  std::vector<const Example*> items;
  for (int32_t k : batch) items.push_back(&train_[k]);
  return static_cast<int64_t>(items.size()) *
         collate_length(items, train_lo_.collate);  // batch numel
}

int64_t SftObjective::count(std::span<const int32_t> part) const {
  return part.empty() ? 0 : batch(part).counted();
}

PartResult SftObjective::forward(std::span<const int32_t> part, int64_t total, int64_t) {
  PartResult r;
  counted_ = 0;
  if (part.empty()) return r;
  const Batch b = batch(part);
  const XentResult x =
      gpt2_loss({m_, &lora_}, s_, b.inputs.data(), b.targets.data(), b.B, b.T, true, total, pack_);
  counted_ = x.counted;
  r.loss = x.loss * static_cast<double>(x.counted);
  return r;
}

void SftObjective::backward(const GradReady* ready) {
  if (counted_ > 0) gpt2_backward(m_, s_, ready);
}

Metrics SftObjective::evaluate(DataLoader& l, TorchGenerator& g, int n, SplitName) {
  return {{"loss", eval_.mean_loss(l, g, n)}};
}

int64_t SftObjective::memory_bytes(const GPT2Config& c, bool, int B, int T, bool recompute) const {
  return gpt2_activation_bytes(c, B, T, recompute);
}

int SftObjective::longest() const {
  size_t n = 1;
  for (auto split : {train_, val_})
    for (const Example& e : split) n = std::max(n, e.tokens.size() + 1);
  return static_cast<int>(
      std::min<size_t>(n, train_lo_.collate.max_length ? train_lo_.collate.max_length : n));
}

namespace {
WorkPlan work_of(std::span<const Example> train, std::span<const Example> val,
                 const LoaderOptions& tlo, const LoaderOptions& vlo, int parts, bool pack,
                 uint64_t seed) {
  WorkPlan w;
  DataLoader loader(train, tlo);
  TorchGenerator g(seed);
  loader.begin_epoch(g);
  for (size_t bi = 0; bi < loader.size(); bi++) {
    std::vector<Work> step;
    for (int k = 0; k < parts; k++)
      step.push_back(batch_work(parts == 1 ? loader.batch(bi) : loader.batch(bi, k, parts), pack));
    w.steps.push_back(std::move(step));
    w.train_eval.push_back(batch_work(loader.batch(bi), pack));
  }
  DataLoader v(val, vlo);
  v.begin_epoch(g);
  for (size_t i = 0; i < v.size(); i++) w.val_eval.push_back(batch_work(v.batch(i), pack));
  return w;
}
}  // namespace

WorkPlan SftObjective::work(int parts, bool pack, uint64_t seed) const {
  return work_of(train_, val_, train_lo_, val_lo_, parts, pack, seed);
}

std::unique_ptr<Objective> sft_objective_create(const ObjectiveContext& c) {
  const TrainOptions& o = c.opt;
  return std::make_unique<SftObjective>(c.model, c.adapter, c.data.train, c.data.val,
                                        loader_options(o.data, SplitName::kTrain, c.data.bpe.eot),
                                        loader_options(o.data, SplitName::kVal, c.data.bpe.eot),
                                        o.pack);
}

WorkPlan sft_work(const PreparedData& d, const DataOptions& data, int parts, bool pack) {
  return work_of(d.train, d.val, loader_options(data, SplitName::kTrain, d.bpe.eot),
                 loader_options(data, SplitName::kVal, d.bpe.eot), parts, pack, data.seed);
}

}  // namespace instruct
