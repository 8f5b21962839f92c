// torch.randperm's CPU algorithm: a forward Fisher-Yates over 32-bit draws.
#include "core/rng.hpp"

#include <numeric>
#include <utility>

namespace instruct {

std::vector<int64_t> TorchGenerator::randperm(int64_t n) {
  std::vector<int64_t> r(static_cast<size_t>(n));
  std::iota(r.begin(), r.end(), 0);
  for (int64_t i = 0; i + 1 < n; i++) {
    int64_t z = static_cast<int64_t>(random() % static_cast<uint64_t>(n - i));
    std::swap(r[i], r[z + i]);
  }
  return r;
}

}  // namespace instruct
