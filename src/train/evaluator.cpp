// calc_loss_loader: the mean of per-batch means over the first n batches.
#include "train/evaluator.hpp"

#include <algorithm>
#include <cmath>

#include "core/dist.hpp"

namespace instruct {

double Evaluator::mean_loss(DataLoader& loader, TorchGenerator& global, int n) {
  loader.begin_epoch(global);
  const size_t k = std::min<size_t>(n, loader.size());
  if (k == 0) return std::nan("");
  const Dist& par = dist();
  double sum = 0;
  for (size_t i = par.rank; i < k; i += par.size) sum += loss(loader.batch(i)).loss;
  if (par.size > 1) dist_allreduce_sum(&sum, 1);
  return sum / static_cast<double>(k);
}

}  // namespace instruct
