// AdamW over a parameter block (the model's, or an adapter's): m and v laid out as the block,
// weight decay per parameter kind (all parameters by default, as the reference); gradient clipping
// by global norm; the LR schedule. Knows nothing of GPT-2 beyond the block's table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "kernels/adamw.hpp"
#include "model/params.hpp"

namespace instruct {

// The precision the moments are kept in: fp32 (torch's AdamW, 8 bytes per parameter), bf16 (4
// bytes, stochastic rounding) or block-wise 8-bit (2 bytes; tensors under kMin8bit values stay
// fp32, as bitsandbytes' min_8bit_size).
enum class OptimizerState { kFp32, kBf16, kInt8 };
OptimizerState optimizer_state_parse(const std::string& name);
const char* optimizer_state_name(OptimizerState s);
// Bytes of optimizer state per parameter.
double optimizer_state_bytes(OptimizerState s);

struct AdamW {
  AdamWHyper hyper;
  bool decay_all = true;  // false: no decay on biases, LayerNorm and embeddings
  OptimizerState state = OptimizerState::kFp32;
  Buffer m, v;                     // fp32: laid out as the block; int8: the small tensors', packed
  std::vector<uint16_t> m16, v16;  // bf16: laid out as the block
  std::vector<uint8_t> m8, v8;     // int8: codes, each tensor starting on a block boundary
  std::vector<float> m_absmax, v_absmax;  // int8: one per block of kQuantBlock codes
  std::vector<int64_t>
      where;  // int8: per tensor of the table, its offset in m8 (>= 0) or in m (-1 - off)
  uint64_t seed = 0x5eed;  // bf16: the stochastic rounding's stream
  int64_t step = 0;
  static constexpr int64_t kMin8bit = 4096;
};

AdamW adamw_create(const ParamBlock& block, const AdamWHyper& hyper, bool decay_all = true,
                   OptimizerState state = OptimizerState::kFp32);
// One optimizer step with the block's current gradients.
void adamw_step(AdamW& opt, ParamBlock& block);
// The same step in pieces (the fused update): adamw_begin once, then each range of the table's
// tensors [first, end) with their gradients `grads` (laid out as those tensors, back to back).
void adamw_begin(AdamW& opt);
void adamw_update_range(AdamW& opt, ParamBlock& block, size_t first, size_t end,
                        const float* grads);

// The state as named tensors (checkpoints store them in their own precision) and back.
struct StateTensor {
  std::string name, dtype;  // "exp_avg", "F32" | "BF16" | "U8"
  const void* data;
  int64_t numel;
};
std::vector<StateTensor> adamw_state_tensors(const AdamW& opt);
// Fills the state from tensors read by name (`read(name, dtype, dst, numel)` fails when absent or
// of another shape or dtype).
template <class Read>
void adamw_state_load(AdamW& opt, Read&& read) {
  for (const StateTensor& t : adamw_state_tensors(opt))
    read(t.name, t.dtype, const_cast<void*>(t.data), t.numel);
}

// torch.nn.utils.clip_grad_norm_: scales all gradients by max_norm / (norm + 1e-6) when that is
// below 1. Returns the global L2 norm before clipping.
double grad_clip_global_norm(ParamBlock& block, double max_norm);

// Learning rate per step (0-based): "constant", or linear warmup from 0 to the peak over `warmup`
// steps, then (for "cosine") half a cosine from the peak down to min_lr at step total-1.
struct LrSchedule {
  std::string kind = "constant";  // constant | cosine
  double peak = 5e-5, min_lr = 0;
  int64_t warmup = 0, total = 1;
  double at(int64_t step) const;
};
void lr_schedule_validate(const LrSchedule& s);

}  // namespace instruct
