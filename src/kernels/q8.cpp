// Q8_0 quantization and the int8 GEMM: scalar reference, AVX2 and AVX512-VNNI block dot products.
#include "kernels/q8.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace instruct {

uint16_t fp16_from_float(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u);  // NaN, inf
  if (x >= 0x477ff000u) return sign | 0x7c00u;                                // rounds past 65504
  if (x < 0x38800000u) {  // a half subnormal (or zero): round(v * 2^24), exact scaling, RNE
    float v;
    std::memcpy(&v, &x, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(v * 16777216.0f));
  }
  uint32_t h = (x - 0x38000000u) >> 13;  // rebias the exponent (127 - 15), keep 10 mantissa bits
  const uint32_t rest = x & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;  // round to nearest even
  return sign | static_cast<uint16_t>(h);
}

float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu,
                 mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  const uint32_t bits =
      sign | (exp == 31 ? 0x7f800000u | (mant << 13) : ((exp + 112) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

void check_k(int64_t n) {
  if (n % kQ8Block != 0) fail("internal: Q8_0 needs a multiple of 32 values, got ", n);
}

// roundf (halves away from zero) in a form the compiler vectorizes: v - trunc(v) is exact.
inline float round_away(float v) {
  const float t = std::trunc(v);
  return t + (std::fabs(v - t) >= 0.5f ? std::copysign(1.0f, v) : 0.0f);
}

// llama.cpp's quantize_row_q8_0_ref for one block.
void quantize_block_scalar(BlockQ8& b, const float* x) {
  float amax = 0;
  for (int64_t j = 0; j < kQ8Block; j++) {
    const float a = std::fabs(x[j]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  b.d = fp16_from_float(d);
  for (int64_t j = 0; j < kQ8Block; j++) b.qs[j] = static_cast<int8_t>(round_away(x[j] * id));
}

#if defined(__AVX2__)
// The same block in AVX2, to the bit: the same amax, d, id and products, round_away on 8 lanes (a
// decoding step quantizes every activation row it multiplies).
void quantize_block(BlockQ8& b, const float* x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4], amax = _mm256_setzero_ps();
  for (int k = 0; k < 4; k++)
    v[k] = _mm256_loadu_ps(x + 8 * k), amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float d = _mm_cvtss_f32(m) / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  b.d = fp16_from_float(d);
  const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  __m256i q[4];
  for (int k = 0; k < 4; k++) {
    const __m256 s = _mm256_mul_ps(v[k], vid);
    const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(s, t)), half, _CMP_GE_OQ);
    const __m256 step = _mm256_or_ps(one, _mm256_and_ps(s, sign));  // +-1 with s's sign
    q[k] = _mm256_cvtps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, step)));
  }
  const __m256i q16 =
      _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  // packs work within 128-bit lanes: put the 8 groups of 4 back in order.
  const __m256i ordered =
      _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.qs), ordered);
}
#else
void quantize_block(BlockQ8& b, const float* x) {
  quantize_block_scalar(b, x);
}
#endif

// sum over blocks of int32 dot(a, w) * d_a * d_w, one block at a time.
float dot_scalar(const BlockQ8* a, const BlockQ8* w, int64_t nb) {
  float sum = 0;
  for (int64_t i = 0; i < nb; i++) {
    int32_t s = 0;
    for (int64_t j = 0; j < kQ8Block; j++) s += int32_t{a[i].qs[j]} * int32_t{w[i].qs[j]};
    sum += static_cast<float>(s) * (fp16_to_float(a[i].d) * fp16_to_float(w[i].d));
  }
  return sum;
}

#if defined(__AVX2__)
// The scale of a block: F16C's conversion (every AVX2 CPU has it), the software one otherwise.
inline float scale_of(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_float(h);
#endif
}

float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One loop for both int8 paths: per block, the 8 int32 partial sums of |a| x (w with a's sign)
// (u8 x s8 products need an unsigned side; q is in [-127, 127], so neither the abs nor maddubs'
// pair sums overflow), scaled by both fp16 scales. R weight rows at once share each activation
// block's load and sign.
template <int R, class Product>
void dot_rows(const BlockQ8* a, const BlockQ8* w, int64_t nb, float* out, Product product) {
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; i++) {
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs));
    const __m256i ua = _mm256_sign_epi8(qa, qa);
    const float da = scale_of(a[i].d);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const BlockQ8& b = w[r * nb + i];
      const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
      const __m256i p32 = product(ua, _mm256_sign_epi8(qw, qa));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(da * scale_of(b.d)), _mm256_cvtepi32_ps(p32), acc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

template <class Product>
void rows_simd(const BlockQ8* a, const BlockQ8* w, int64_t nb, int rows, float* out, Product p) {
  if (rows == 4) return dot_rows<4>(a, w, nb, out, p);
  for (int r = 0; r < rows; r++) dot_rows<1>(a, w + r * nb, nb, out + r, p);
}

void rows_avx2(const BlockQ8* a, const BlockQ8* w, int64_t nb, int rows, float* out) {
  rows_simd(a, w, nb, rows, out, [](__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
  });
}
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
void rows_vnni(const BlockQ8* a, const BlockQ8* w, int64_t nb, int rows, float* out) {
  rows_simd(a, w, nb, rows, out,
            [](__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); });
}
#endif

void rows_scalar(const BlockQ8* a, const BlockQ8* w, int64_t nb, int rows, float* out) {
  for (int r = 0; r < rows; r++) out[r] = dot_scalar(a, w + r * nb, nb);
}

// out[r] = dot(a, weight row r) for `rows` (1..4) consecutive weight rows.
using RowsFn = void (*)(const BlockQ8*, const BlockQ8*, int64_t, int, float*);

RowsFn rows_of(Q8Kernel k) {
  switch (k) {
#if defined(__AVX2__)
    case Q8Kernel::kAvx2:
      return rows_avx2;
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    case Q8Kernel::kVnni:
      return rows_vnni;
#endif
    case Q8Kernel::kScalar:
      return rows_scalar;
    default:
      fail("internal: the ", q8_kernel_name(k), " int8 kernel is not in this build");
  }
}

}  // namespace

void q8_quantize(BlockQ8* out, const float* x, int64_t n) {
  check_k(n);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n / kQ8Block; i++) quantize_block(out[i], x + i * kQ8Block);
}

void q8_quantize_scalar(BlockQ8* out, const float* x, int64_t n) {
  check_k(n);
  for (int64_t i = 0; i < n / kQ8Block; i++) quantize_block_scalar(out[i], x + i * kQ8Block);
}

void q8_dequantize(float* out, const BlockQ8* in, int64_t n) {
  check_k(n);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n / kQ8Block; i++) {
    const float d = fp16_to_float(in[i].d);
    for (int64_t j = 0; j < kQ8Block; j++) out[i * kQ8Block + j] = d * in[i].qs[j];
  }
}

const char* q8_kernel_name(Q8Kernel k) {
  return k == Q8Kernel::kVnni ? "avx512-vnni" : k == Q8Kernel::kAvx2 ? "avx2" : "scalar";
}

const std::vector<Q8Kernel>& q8_kernels() {
  static const std::vector<Q8Kernel> k = {
    Q8Kernel::kScalar,
#if defined(__AVX2__)
    Q8Kernel::kAvx2,
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    Q8Kernel::kVnni,
#endif
  };
  return k;
}

void gemm_q8_0_with(Q8Kernel k, float* y, const float* x, const BlockQ8* w, const float* bias,
                    int64_t M, int64_t N, int64_t K) {
  check_k(K);
  const RowsFn rows = rows_of(k);
  const int64_t nb = K / kQ8Block;
  thread_local std::vector<BlockQ8> xq;
  if (static_cast<int64_t>(xq.size()) < M * nb) xq.resize(M * nb);
  BlockQ8* const aq = xq.data();
  q8_quantize(aq, x, M * K);
  // Each thread takes runs of weight rows and every activation row: a weight row is read once from
  // memory (decoding is bound by it) and reused from cache for the M rows. With several
  // activation rows, 4 weight rows at once share each activation block (prefill: 456 rows of
  // gpt2-small, 55-120 -> 155-180 GFLOP/s on a Zen 5); one row at a time streams a matrix that
  // is not in cache fastest (the 41 MB lm_head: 71 against 33 GFLOP/s with 4).
  const int64_t R = M >= 4 ? 4 : 1;
  const int64_t groups = (N + R - 1) / R;
#pragma omp parallel for schedule(static) if (N * K > 32768)
  for (int64_t g = 0; g < groups; g++) {
    const int64_t n0 = R * g;
    const int n = static_cast<int>(std::min<int64_t>(R, N - n0));
    float out[4];
    for (int64_t m = 0; m < M; m++) {
      rows(aq + m * nb, w + n0 * nb, nb, n, out);
      for (int r = 0; r < n; r++) y[m * N + n0 + r] = out[r] + (bias ? bias[n0 + r] : 0.0f);
    }
  }
}

void gemm_q8_0(float* y, const float* x, const BlockQ8* w, const float* bias, int64_t M, int64_t N,
               int64_t K) {
  gemm_q8_0_with(q8_kernels().back(), y, x, w, bias, M, N, K);
}

}  // namespace instruct
