// torch.randperm's CPU algorithm: a forward Fisher-Yates over 32-bit draws.
#include "core/rng.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <sstream>
#include <unordered_set>

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

// CPython's Modules/_randommodule.c: init_genrand, init_by_array, genrand_uint32.
PyRandom::PyRandom(uint64_t seed) {
  std::vector<uint32_t> key;
  do {
    key.push_back(static_cast<uint32_t>(seed & 0xffffffffu));
    seed >>= 32;
  } while (seed);
  mt_[0] = 19650218u;
  for (int i = 1; i < 624; i++)
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  int i = 1;
  size_t j = 0;
  const size_t n = key.size();
  for (size_t k = std::max<size_t>(624, n); k; k--) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] +
             static_cast<uint32_t>(j);
    i++, j++;
    if (i >= 624) mt_[0] = mt_[623], i = 1;
    if (j >= n) j = 0;
  }
  for (int k = 623; k; k--) {
    mt_[i] =
        (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    i++;
    if (i >= 624) mt_[0] = mt_[623], i = 1;
  }
  mt_[0] = 0x80000000u;
  mti_ = 624;
}

uint32_t PyRandom::genrand() {
  constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
  if (mti_ >= 624) {
    int k = 0;
    auto twist = [&](int a, int b, int c) {
      const uint32_t y = (mt_[a] & kUpper) | (mt_[b] & kLower);
      mt_[a] = mt_[c] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
    };
    for (; k < 624 - 397; k++) twist(k, k + 1, k + 397);
    for (; k < 623; k++) twist(k, k + 1, k + 397 - 624);
    twist(623, 0, 396);
    mti_ = 0;
  }
  uint32_t y = mt_[mti_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint32_t PyRandom::getrandbits(int k) {
  return genrand() >> (32 - k);
}

uint64_t PyRandom::randbelow(uint64_t n) {
  if (n == 0 || n > 0xffffffffu) fail("internal: randbelow(", n, ")");
  const int k = std::bit_width(n);
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

// Lib/random.py's sample: a pool for small populations, a set of taken indices otherwise.
std::vector<int64_t> PyRandom::sample(int64_t n, int64_t k) {
  if (k < 0 || k > n) fail("sample larger than population or is negative (", k, " of ", n, ")");
  std::vector<int64_t> result(static_cast<size_t>(k));
  int64_t setsize = 21;
  if (k > 5) {
    // 4 ** ceil(log(k * 3, 4)), computed as Python does (floating log)
    setsize += static_cast<int64_t>(std::pow(4.0, std::ceil(std::log(k * 3.0) / std::log(4.0))));
  }
  if (n <= setsize) {
    std::vector<int64_t> pool(static_cast<size_t>(n));
    std::iota(pool.begin(), pool.end(), 0);
    for (int64_t i = 0; i < k; i++) {
      const int64_t j = static_cast<int64_t>(randbelow(static_cast<uint64_t>(n - i)));
      result[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
  } else {
    std::unordered_set<int64_t> selected;
    for (int64_t i = 0; i < k; i++) {
      int64_t j = static_cast<int64_t>(randbelow(static_cast<uint64_t>(n)));
      while (selected.count(j)) j = static_cast<int64_t>(randbelow(static_cast<uint64_t>(n)));
      selected.insert(j);
      result[i] = j;
    }
  }
  return result;
}

}  // namespace instruct
