// AdamW exactly as torch.optim.AdamW (single-tensor path): decoupled weight decay p *= 1 - lr*wd,
// then Adam with bias correction. Works on one contiguous range; knows nothing of parameter names.
#pragma once

#include <cstdint>

namespace instruct {

struct AdamWHyper {
  // Doubles, as the Python scalars are; each is rounded to float where torch rounds it.
  double lr = 5e-5, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1;
};

// step is 1-based (the step being taken). weight_decay is per call so ranges can opt out.
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                  const AdamWHyper& h, double weight_decay, int64_t step);

// The same update with the moments stored in bf16: read, updated in fp32 as above, written back
// with stochastic rounding (the dropped low bits decide the rounding direction against a hash of
// (seed, step, index0 + i)), so an average step survives even when it is below bf16's resolution
// (v's 0.1% EMA moves are). Deterministic: a resumed run rounds the same way.
void adamw_update_bf16(float* param, const float* grad, uint16_t* m, uint16_t* v, int64_t n,
                       const AdamWHyper& h, double weight_decay, int64_t step, uint64_t seed,
                       int64_t index0);
// fp32 -> bf16 with stochastic rounding by `random` (its low 16 bits).
uint16_t bf16_round_stochastic(float x, uint32_t random);

// Block-wise 8-bit dynamic quantization (Dettmers et al., "8-bit Optimizers via Block-wise
// Quantization"; bitsandbytes' create_dynamic_map and AdamW8bit): blocks of kQuantBlock values,
// each scaled by its absolute maximum and mapped to the nearest of 256 codes of the dynamic map
// (signed for the first moment, unsigned for the second).
constexpr int64_t kQuantBlock = 256;
const float* dynamic_map(bool is_signed);  // 256 ascending values in [-1, 1] or [0, 1]
uint8_t quantize_nearest(float x, const float* map);
// codes (n), absmax (ceil(n / kQuantBlock))
void quantize_blockwise(const float* x, int64_t n, const float* map, uint8_t* codes, float* absmax);
void dequantize_blockwise(const uint8_t* codes, const float* absmax, int64_t n, const float* map,
                          float* x);
// AdamW with both moments block-wise 8-bit: each block is dequantized, updated in fp32 as above,
// and quantized again with its new absolute maximum.
void adamw_update_8bit(float* param, const float* grad, uint8_t* m, uint8_t* v, float* m_absmax,
                       float* v_absmax, int64_t n, const AdamWHyper& h, double weight_decay,
                       int64_t step);

}  // namespace instruct
