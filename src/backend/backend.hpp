// What the model code runs on, behind one table (ggml's backend interface, in small): the backend's
// memory (allocation, fills, copies, row gathers, per-thread scratch), the GEMM of each weight type
// and the element-wise kernels forward and backward. Model code calls these through backend() and
// does no memcpy, memset or kernel call of its own. A second backend (CUDA, a portable BLAS for
// ARM) is a directory that fills a Backend and one line in backend.cpp's list. Pointers passed to
// the operations are the backend's memory (host memory for the CPU). Not here: weights' storage
// (parameter blocks and their typed copies live in host memory) and the optimizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/attention_cached.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"
#include "kernels/q8.hpp"

namespace instruct {

struct Backend {
  const char* name;
  // Memory. alloc: 64-byte aligned, `huge` asks for huge pages (large, densely used blocks); free
  // with release. zero and copy take bytes; gather_rows: dst row i = src row rows[i] (width
  // floats).
  void* (*alloc)(int64_t bytes, bool huge);
  void (*release)(void* p);
  void (*zero)(void* dst, int64_t bytes);
  void (*copy)(void* dst, const void* src, int64_t bytes);
  void (*gather_rows)(float* dst, const float* src, const int32_t* rows, int64_t n, int64_t width);
  // The inverse: dst row rows[i] = src row i (the other rows of dst untouched).
  void (*scatter_rows)(float* dst, const float* src, const int32_t* rows, int64_t n, int64_t width);
  // A reusable scratch of at least `bytes` for the calling thread, one per `slot` (0..3): valid
  // until the next call with the same slot on the same thread.
  void* (*scratch)(int slot, int64_t bytes);

  // GEMMs: one per weight type (fp32; bf16 plain or packed once; Q8_0 blocks), fp32 results (the
  // kernels/gemm.hpp and kernels/q8.hpp contracts), and the fp32 -> bf16 rounding of operands.
  decltype(&instruct::gemm) gemm_f32;
  decltype(&instruct::gemm_bf16) gemm_bf16;
  decltype(&instruct::gemm_bf16_packed) gemm_bf16_packed;
  decltype(&instruct::gemm_q8_0) gemm_q8_0;
  decltype(&instruct::to_bf16) to_bf16;
  decltype(&instruct::to_bf16_in_place) to_bf16_in_place;

  // Element-wise kernels in fp32, forward next to backward (kernels/layers.hpp's contracts).
  decltype(&instruct::encoder_forward<float>) encoder_forward;
  decltype(&instruct::encoder_backward<float>) encoder_backward;
  decltype(&instruct::layernorm_forward<float>) layernorm_forward;
  decltype(&instruct::layernorm_backward<float>) layernorm_backward;
  decltype(&instruct::attention_forward<float>) attention_forward;
  decltype(&instruct::attention_backward<float>) attention_backward;
  decltype(&instruct::gelu_forward<float>) gelu_forward;
  decltype(&instruct::gelu_backward<float>) gelu_backward;
  decltype(&instruct::residual_forward<float>) residual_forward;
  decltype(&instruct::residual_backward<float>) residual_backward;
  decltype(&instruct::bias_backward<float>) bias_backward;
  decltype(&instruct::crossentropy_forward_backward<float>) crossentropy_forward_backward;
  decltype(&instruct::crossentropy_forward<float>) crossentropy_forward;
  decltype(&instruct::logprob_rows<float>) logprob_rows;
  decltype(&instruct::logprob_rows_backward<float>) logprob_rows_backward;
  // Scales n floats in place: x *= a (the adapter's alpha).
  void (*scale)(float* x, float a, int64_t n);

  // The KV cache (kernels/attention_cached.hpp), with fp32 and with bf16 entries.
  decltype(&instruct::kv_store<float>) kv_store_f32;
  decltype(&instruct::kv_store<uint16_t>) kv_store_bf16;
  decltype(&instruct::attention_cached<float>) attention_cached_f32;
  decltype(&instruct::attention_cached<uint16_t>) attention_cached_bf16;
};

// The backend in use: the first registered one, or the one INSTRUCT_BACKEND names (an unknown name
// is a one-line error listing the registered ones).
const Backend& backend();
// Every registered backend (the backend-ops test runs each).
const std::vector<const Backend*>& backends();

// An owning block of floats in the backend's memory (activations, inference scratch, a KV cache):
// Buffer's interface, allocated, zeroed and freed by the backend. Moved, never copied.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
  // n floats (contents undefined after a change of size); `huge`: Backend::alloc's flag.
  void resize(int64_t n, bool huge = true);
  void zero();
  float* data() { return p_; }
  const float* data() const { return p_; }
  int64_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;
};

}  // namespace instruct
