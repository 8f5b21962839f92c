// torch/optim/adamw.py _single_tensor_adamw (torch 1.13), fp32, with the same order of operations;
// the same arithmetic over moments kept in bf16 or block-wise 8-bit.
#include "kernels/adamw.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

namespace instruct {

namespace {

// The scalars of one step, rounded to float where torch rounds them.
struct AdamStep {
  float step_size, bc2_sqrt, decay, b1, b2, one_minus_b1, one_minus_b2, eps;
  AdamStep(const AdamWHyper& h, double weight_decay, int64_t step) {
    const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
    step_size = static_cast<float>(h.lr / bc1);
    bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    decay = static_cast<float>(1.0 - h.lr * weight_decay);
    b1 = static_cast<float>(h.beta1), b2 = static_cast<float>(h.beta2);
    one_minus_b1 = static_cast<float>(1.0 - h.beta1);
    one_minus_b2 = static_cast<float>(1.0 - h.beta2);
    eps = static_cast<float>(h.eps);
  }
  // One parameter: m and v in fp32, updated in place.
  float apply(float p, float g, float& m, float& v) const {
    p *= decay;
    m = m * b1 + g * one_minus_b1;      // exp_avg.mul_(b1).add_(g, 1 - b1)
    v = v * b2 + one_minus_b2 * g * g;  // exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
    const float denom = std::sqrt(v) / bc2_sqrt + eps;
    return p - step_size * m / denom;
  }
};

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float bf16_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// splitmix64 of a counter: independent random bits per (seed, step, index), whatever the threads.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits=7, total_bits=8), sorted.
std::array<float, 256> make_dynamic_map(bool is_signed) {
  std::vector<double> data;
  const int max_exp = 7, non_sign_bits = 7;
  for (int i = 0; i < max_exp; i++) {
    const int items = is_signed ? (1 << (i + non_sign_bits - max_exp)) + 1
                                : (1 << (i + non_sign_bits - max_exp + 1)) + 1;
    const double scale = std::pow(10.0, -(max_exp - 1) + i);
    for (int k = 0; k + 1 < items;
         k++) {  // means of neighbouring linspace(0.1, 1, items) boundaries
      const double lo = 0.1 + 0.9 * k / (items - 1), hi = 0.1 + 0.9 * (k + 1) / (items - 1);
      const double mean =
          static_cast<float>((static_cast<float>(lo) + static_cast<float>(hi)) / 2.0);
      data.push_back(scale * mean);
      if (is_signed) data.push_back(-scale * mean);
    }
  }
  data.push_back(0.0);
  data.push_back(1.0);
  while (data.size() < 256) data.push_back(0.0);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  for (size_t i = 0; i < 256; i++) out[i] = static_cast<float>(data[i]);
  return out;
}

}  // namespace

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                  const AdamWHyper& h, double weight_decay, int64_t step) {
  const AdamStep a(h, weight_decay, step);
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; i++) param[i] = a.apply(param[i], grad[i], m[i], v[i]);
}

uint16_t bf16_round_stochastic(float x, uint32_t random) {
  const uint32_t u = bits_of(x);
  if ((u & 0x7f800000u) == 0x7f800000u)
    return static_cast<uint16_t>(u >> 16);  // inf and nan as they are
  const uint32_t r =
      u + (random & 0xffffu);  // carries into the kept bits with probability low/65536
  return static_cast<uint16_t>(r >> 16);
}

void adamw_update_bf16(float* param, const float* grad, uint16_t* m, uint16_t* v, int64_t n,
                       const AdamWHyper& h, double weight_decay, int64_t step, uint64_t seed,
                       int64_t index0) {
  const AdamStep a(h, weight_decay, step);
  const uint64_t base = mix(seed ^ mix(static_cast<uint64_t>(step)));
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) {
    float mi = bf16_to_f32(m[i]), vi = bf16_to_f32(v[i]);
    param[i] = a.apply(param[i], grad[i], mi, vi);
    const uint64_t r = mix(base + static_cast<uint64_t>(index0 + i));
    m[i] = bf16_round_stochastic(mi, static_cast<uint32_t>(r));
    v[i] = bf16_round_stochastic(vi, static_cast<uint32_t>(r >> 32));
  }
}

const float* dynamic_map(bool is_signed) {
  static const std::array<float, 256> s = make_dynamic_map(true), u = make_dynamic_map(false);
  return is_signed ? s.data() : u.data();
}

uint8_t quantize_nearest(float x, const float* map) {
  const float* hi = std::lower_bound(map, map + 256, x);
  if (hi == map) return 0;
  if (hi == map + 256) return 255;
  const float* lo = hi - 1;
  return static_cast<uint8_t>((x - *lo <= *hi - x ? lo : hi) - map);
}

namespace {

// quantize_nearest without the binary search over all 256 codes: a value's float bits (sign,
// exponent and the top kBits of the mantissa) name a bucket narrow enough to hold at most one code,
// so its nearest code is one of three neighbours, picked without a branch. The same code as
// quantize_nearest for every input (the nearest, ties to the lower code), at a fraction of the
// cost: the 8-bit update quantizes two values per parameter and step.
class FastQuant {
 public:
  explicit FastQuant(const float* map) : map_(map) {
    for (int side = 0; side < 2; side++)
      for (uint32_t key = 0; key < kKeys; key++) {
        // The bucket's magnitudes [a, b): key 0 also holds everything smaller.
        const float a = key == 0 ? 0.0f : from_key(key), b = from_key(key + 1);
        const float lo = side ? -b : a, hi = side ? -a : b;  // its values lie in [lo, hi]
        const int first = lower(lo), last = lower(hi);
        // The nearest code is p-1 or p for p = lower_bound(x), first <= p <= last.
        base_[side][key] = std::clamp(first - 1, 0, 253);
        if (last - first > 1)
          std::abort();  // a bucket holds at most one code (kBits is fine enough)
      }
  }
  // codes[i] = the nearest code of x[i] * inv (a plain loop the compiler vectorizes with gathers).
  void quantize(const float* __restrict x, float inv, int64_t n, uint8_t* __restrict codes) const {
    const int32_t* __restrict base = &base_[0][0];
    const float* __restrict map = map_;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      const float y = x[i] * inv;
      const uint32_t u = std::bit_cast<uint32_t>(y);
      uint32_t key = (u & 0x7fffffffu) >> (23 - kBits);
      key = key < kBase ? 0 : std::min(key - kBase, kKeys - 1);
      const int b = base[(u >> 31) * kKeys + key];
      // The nearest of three neighbours, ties to the lower code: |y - map[c]| is exactly the
      // difference quantize_nearest compares.
      const float d0 = std::fabs(y - map[b]), d1 = std::fabs(y - map[b + 1]),
                  d2 = std::fabs(y - map[b + 2]);
      int best = d1 < d0 ? b + 1 : b;
      best = d2 < std::min(d0, d1) ? b + 2 : best;
      codes[i] = static_cast<uint8_t>(best);
    }
  }

 private:
  static constexpr int kBits = 8;                // mantissa bits per bucket
  static constexpr uint32_t kLowest = 127 - 24;  // below 2^-24: bucket 0 (only 0 there)
  static constexpr uint32_t kBase = kLowest << kBits;
  static constexpr uint32_t kKeys =
      ((128u - kLowest) << kBits) + 1;  // up to 2.0 (rounding above 1)
  static float from_key(uint32_t key) {
    const uint32_t u = (key + kBase) << (23 - kBits);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  int lower(float v) const {
    return static_cast<int>(std::lower_bound(map_, map_ + 256, v) - map_);
  }
  const float* map_;
  int32_t base_[2][kKeys];
};

const FastQuant& fast_quant(bool is_signed) {
  static const FastQuant s(dynamic_map(true)), u(dynamic_map(false));
  return is_signed ? s : u;
}

}  // namespace

namespace {
void quantize_block(const float* x, int64_t n, const float* map, uint8_t* codes, float* absmax) {
  float mx = 0;
#pragma omp simd reduction(max : mx)
  for (int64_t i = 0; i < n; i++) mx = std::max(mx, std::fabs(x[i]));
  *absmax = mx;
  const float inv = mx > 0 ? 1.0f / mx : 0.0f;
  const FastQuant* fast = map == dynamic_map(true)    ? &fast_quant(true)
                          : map == dynamic_map(false) ? &fast_quant(false)
                                                      : nullptr;
  if (!fast) {
    for (int64_t i = 0; i < n; i++) codes[i] = quantize_nearest(x[i] * inv, map);
    return;
  }
  fast->quantize(x, inv, n, codes);
}
}  // namespace

void quantize_blockwise(const float* x, int64_t n, const float* map, uint8_t* codes,
                        float* absmax) {
  const int64_t blocks = (n + kQuantBlock - 1) / kQuantBlock;
#pragma omp parallel for
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t lo = b * kQuantBlock, len = std::min(kQuantBlock, n - lo);
    quantize_block(x + lo, len, map, codes + lo, absmax + b);
  }
}

void dequantize_blockwise(const uint8_t* codes, const float* absmax, int64_t n, const float* map,
                          float* x) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) x[i] = map[codes[i]] * absmax[i / kQuantBlock];
}

void adamw_update_8bit(float* param, const float* grad, uint8_t* m, uint8_t* v, float* m_absmax,
                       float* v_absmax, int64_t n, const AdamWHyper& h, double weight_decay,
                       int64_t step) {
  const AdamStep a(h, weight_decay, step);
  const float* smap = dynamic_map(true);
  const float* umap = dynamic_map(false);
  const int64_t blocks = (n + kQuantBlock - 1) / kQuantBlock;
#pragma omp parallel for
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t lo = b * kQuantBlock, len = std::min(kQuantBlock, n - lo);
    float mf[kQuantBlock], vf[kQuantBlock];
    const float ma = m_absmax[b], va = v_absmax[b];
#pragma omp simd
    for (int64_t i = 0; i < len; i++) {
      mf[i] = smap[m[lo + i]] * ma;
      vf[i] = umap[v[lo + i]] * va;
      param[lo + i] = a.apply(param[lo + i], grad[lo + i], mf[i], vf[i]);
    }
    quantize_block(mf, len, smap, m + lo, m_absmax + b);
    quantize_block(vf, len, umap, v + lo, v_absmax + b);
  }
}

}  // namespace instruct
