// A step is zero_grad, forward + head + backward per micro-batch, then clip and AdamW: the
// reference's loop body (loss.backward(); optimizer.step()) with gradient accumulation.
#include "train/trainer.hpp"

#include <cmath>

#include "core/dist.hpp"

namespace instruct {

double trainer_update(GPT2& m, AdamW& adam, double lr, double max_grad_norm, bool bf16) {
  ParamBlock& trainable = gpt2_trainable(m);  // with LoRA the adapter; the frozen base never changes
  const double norm = max_grad_norm > 0 ? grad_clip_global_norm(trainable, max_grad_norm) : -1;
  adam.hyper.lr = lr;
  adamw_step(adam, trainable);
  if (bf16 && !m.lora.on()) gpt2_use_bf16(m, true);
  return norm;
}

void trainer_allreduce_grads(GPT2& m) {
  ParamBlock& trainable = gpt2_trainable(m);
  dist_allreduce_sum(trainable.grads.data(), static_cast<size_t>(trainable.grads.size()));
}

Trainer::Trainer(GPT2& model, const TrainerOptions& o)
    : m_(model), o_(o), adam_(adamw_create(gpt2_trainable(model), o.adam, o.decay_all)) {
  gpt2_use_bf16(m_, o.bf16);  // the GEMMs' weights: cast once per step, not once per use
}

StepResult Trainer::step(std::span<const Batch> micro, int64_t step_index) {
  StepResult r;
  for (const Batch& b : micro) r.counted += b.counted();
  // Data-parallel: this rank holds some micro-batches of the step; the loss is normalized by the
  // counted targets of all of them, and the gradients are summed before clipping and AdamW.
  const bool parallel = dist().size > 1;
  if (parallel) {
    double counted = static_cast<double>(r.counted);
    dist_allreduce_sum(&counted, 1);
    r.counted = static_cast<int64_t>(counted);
  }
  gpt2_zero_grad(m_);
  double loss_sum = 0;
  for (const Batch& b : micro) {  // each micro-batch's gradient is divided by the step's count
    const XentResult x = gpt2_loss(m_, s_, b.inputs.data(), b.targets.data(), b.B, b.T, true, r.counted, o_.pack);
    loss_sum += x.loss * static_cast<double>(x.counted);
    if (x.counted > 0) gpt2_backward(m_, s_);
  }
  if (parallel) {
    trainer_allreduce_grads(m_);
    dist_allreduce_sum(&loss_sum, 1);
  }
  r.loss = r.counted ? loss_sum / static_cast<double>(r.counted) : 0.0;
  r.lr = o_.schedule.at(step_index);
  if (r.counted == 0 || !std::isfinite(r.loss)) return r;
  r.grad_norm = trainer_update(m_, adam_, r.lr, o_.max_grad_norm, o_.bf16);
  r.updated = true;
  return r;
}

double Trainer::evaluate(DataLoader& loader, TorchGenerator& global, int n) {
  loader.begin_epoch(global);
  const size_t k = std::min<size_t>(n, loader.size());
  if (k == 0) return std::nan("");
  // Data-parallel: each rank scores every size-th batch; the sum over ranks is the same sum.
  const Dist& par = dist();
  double sum = 0;
  for (size_t i = par.rank; i < k; i += par.size) {
    const Batch b = loader.batch(i);
    sum += gpt2_loss(m_, s_, b.inputs.data(), b.targets.data(), b.B, b.T, false, 0, o_.pack).loss;
  }
  if (par.size > 1) dist_allreduce_sum(&sum, 1);
  return sum / static_cast<double>(k);
}

}  // namespace instruct
