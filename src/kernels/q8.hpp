// GGUF's Q8_0 (llama.cpp's block_q8_0): blocks of 32 int8 values and one fp16 scale,
// d = amax / 127, q = round(x / d). The int8 GEMM quantizes each activation row the same way and
// sums int32 block dot products scaled by both scales (llama.cpp's vec_dot_q8_0_q8_0). A scalar
// reference and SIMD paths: AVX2 (maddubs) everywhere it exists, AVX512-VNNI (dpbusd) where the
// CPU has it; the build (-march=native) compiles the ones this CPU runs.
#pragma once

#include <cstdint>
#include <vector>

namespace instruct {

constexpr int64_t kQ8Block = 32;

struct BlockQ8 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQ8Block];
};
static_assert(sizeof(BlockQ8) == 34, "GGUF's block_q8_0 is 34 bytes");

// IEEE binary16 <-> float, round to nearest even (GGUF F16 tensors, Q8_0 scales).
uint16_t fp16_from_float(float f);
float fp16_to_float(uint16_t h);

// n % 32 == 0 (an error otherwise).
void q8_quantize(BlockQ8* out, const float* x, int64_t n);
void q8_dequantize(float* out, const BlockQ8* in, int64_t n);
// The scalar reference of q8_quantize (which is SIMD where the build has AVX2), for tests.
void q8_quantize_scalar(BlockQ8* out, const float* x, int64_t n);

enum class Q8Kernel { kScalar, kAvx2, kVnni };
const char* q8_kernel_name(Q8Kernel k);
// The kernels this build runs, slowest first; the last is the default.
const std::vector<Q8Kernel>& q8_kernels();

// y (M,N) = x (M,K) W^T + bias: W is N rows of K/32 blocks (a [N,K] matrix in Q8_0), x fp32
// (quantized per row and block here), bias may be null. K % 32 == 0.
void gemm_q8_0(float* y, const float* x, const BlockQ8* w, const float* bias, int64_t M, int64_t N,
               int64_t K);
void gemm_q8_0_with(Q8Kernel k, float* y, const float* x, const BlockQ8* w, const float* bias,
                    int64_t M, int64_t N, int64_t K);

}  // namespace instruct
