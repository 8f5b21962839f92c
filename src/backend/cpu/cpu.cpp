// The CPU backend: host memory (core/buffer's allocator: aligned, huge pages for large blocks) and
// the kernels/ implementations (oneDNN GEMMs, the Q8_0 and element-wise kernels with OpenMP).
// Nothing else: what a kernel does is in kernels/.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/backend.hpp"
#include "core/buffer.hpp"

namespace instruct {

namespace {

void* cpu_alloc(int64_t bytes, bool huge) {
  return buffer_alloc(static_cast<size_t>(bytes), huge);
}

void cpu_release(void* p) {
  std::free(p);
}

void cpu_zero(void* dst, int64_t bytes) {
  if (bytes) std::memset(dst, 0, static_cast<size_t>(bytes));
}

void cpu_copy(void* dst, const void* src, int64_t bytes) {
  if (bytes) std::memcpy(dst, src, static_cast<size_t>(bytes));
}

void cpu_gather_rows(float* dst, const float* src, const int32_t* rows, int64_t n, int64_t width) {
#pragma omp parallel for if (n * width > 65536)
  for (int64_t r = 0; r < n; r++)
    std::memcpy(dst + r * width, src + static_cast<int64_t>(rows[r]) * width,
                sizeof(float) * static_cast<size_t>(width));
}

void cpu_scatter_rows(float* dst, const float* src, const int32_t* rows, int64_t n, int64_t width) {
#pragma omp parallel for if (n * width > 65536)
  for (int64_t r = 0; r < n; r++)
    std::memcpy(dst + static_cast<int64_t>(rows[r]) * width, src + r * width,
                sizeof(float) * static_cast<size_t>(width));
}

void* cpu_scratch(int slot, int64_t bytes) {
  thread_local std::vector<char> slots[4];
  std::vector<char>& s = slots[slot & 3];
  if (static_cast<int64_t>(s.size()) < bytes) s.resize(static_cast<size_t>(bytes));
  return s.data();
}

void cpu_scale(float* x, float a, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

}  // namespace

const Backend& backend_cpu() {
  static const Backend b{
      .name = "cpu",
      .alloc = cpu_alloc,
      .release = cpu_release,
      .zero = cpu_zero,
      .copy = cpu_copy,
      .gather_rows = cpu_gather_rows,
      .scatter_rows = cpu_scatter_rows,
      .scratch = cpu_scratch,
      .gemm_f32 = gemm,
      .gemm_bf16 = gemm_bf16,
      .gemm_bf16_packed = gemm_bf16_packed,
      .gemm_q8_0 = gemm_q8_0,
      .to_bf16 = to_bf16,
      .to_bf16_in_place = to_bf16_in_place,
      .encoder_forward = encoder_forward<float>,
      .encoder_backward = encoder_backward<float>,
      .layernorm_forward = layernorm_forward<float>,
      .layernorm_backward = layernorm_backward<float>,
      .attention_forward = attention_forward<float>,
      .attention_backward = attention_backward<float>,
      .gelu_forward = gelu_forward<float>,
      .gelu_backward = gelu_backward<float>,
      .residual_forward = residual_forward<float>,
      .residual_backward = residual_backward<float>,
      .bias_backward = bias_backward<float>,
      .crossentropy_forward_backward = crossentropy_forward_backward<float>,
      .crossentropy_forward = crossentropy_forward<float>,
      .logprob_rows = logprob_rows<float>,
      .logprob_rows_backward = logprob_rows_backward<float>,
      .scale = cpu_scale,
      .kv_store_f32 = kv_store<float>,
      .kv_store_bf16 = kv_store<uint16_t>,
      .attention_cached_f32 = attention_cached<float>,
      .attention_cached_bf16 = attention_cached<uint16_t>,
  };
  return b;
}

}  // namespace instruct
