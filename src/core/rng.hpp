// Random numbers that reproduce PyTorch's CPU generator bit for bit (mt19937 seeded like
// torch.manual_seed), so shuffles match torch.utils.data.DataLoader. Not a general RNG library.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace instruct {

class TorchGenerator {
 public:
  explicit TorchGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed)) {}

  uint32_t random() { return engine_(); }
  // at::CPUGeneratorImpl::random64: two draws, the first is the high word.
  uint64_t random64() {
    uint64_t hi = engine_();
    uint64_t lo = engine_();
    return (hi << 32) | lo;
  }
  // torch.empty((), dtype=torch.int64).random_(): uniform over [0, 2^63).
  int64_t random_int64() { return static_cast<int64_t>(random64() % (uint64_t{1} << 63)); }
  // One draw of tensor.uniform_(from, to) for a float32 tensor on the CPU: 24 random bits of a
  // 32-bit draw, scaled in float (at::uniform_real_distribution<float>).
  float uniform_float(float from, float to) {
    const float x = static_cast<float>(random() & ((1u << 24) - 1)) * (1.0f / (1u << 24));
    return x * (to - from) + from;
  }
  // torch.randperm(n, generator=g) on the CPU (torch 1.13 algorithm).
  std::vector<int64_t> randperm(int64_t n);
  // The full engine state as text (for checkpoints), and back; restore fails on malformed text.
  std::string state() const;
  void restore(const std::string& state);

 private:
  std::mt19937 engine_;
};

// Python's random.Random(seed) for a non-negative integer seed (MT19937 seeded by init_by_array
// over the seed's 32-bit words), with random.sample: lm-evaluation-harness draws its few-shot
// examples this way (random.Random(1234)), so the same examples come out.
class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);
  uint32_t genrand();
  uint32_t getrandbits(int k);     // 1 <= k <= 32
  uint64_t randbelow(uint64_t n);  // _randbelow_with_getrandbits, n < 2^32
  // random.sample(range(n), k): indices in the order Python returns them.
  std::vector<int64_t> sample(int64_t n, int64_t k);

 private:
  uint32_t mt_[624];
  int mti_ = 625;
};

}  // namespace instruct
