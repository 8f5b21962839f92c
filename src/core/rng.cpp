// torch.randperm's CPU algorithm: a forward Fisher-Yates over 32-bit draws.
#include "core/rng.hpp"

#include <numeric>
#include <sstream>

#include <utility>
#include "core/error.hpp"

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

std::string TorchGenerator::state() const {
  std::ostringstream s;
  s << engine_;
  return s.str();
}

void TorchGenerator::restore(const std::string& state) {
  std::istringstream s(state);
  std::mt19937 e;
  s >> e;
  if (s.fail())
    fail("the saved random generator state is malformed (", state.size(), " characters)");
  engine_ = e;
}

}  // namespace instruct
