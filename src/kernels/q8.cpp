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

// llama.cpp's quantize_row_q8_0_ref for one block; a block whose scale is 0 in fp16 (|x| < 4e-6)
// is all zeros (llama.cpp's cast of x * inf is undefined there; either way it dequantizes to 0).
void quantize_block_scalar(BlockQ8& b, const float* x) {
  float amax = 0;
  for (int64_t j = 0; j < kQ8Block; j++) {
    const float a = std::fabs(x[j]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  b.d = fp16_from_float(d);
  if (b.d == 0) {  // a block too small for an fp16 scale (1/d may overflow): it stands for zeros
    std::memset(b.qs, 0, sizeof b.qs);
    return;
  }
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
  if (b.d == 0) {
    std::memset(b.qs, 0, sizeof b.qs);
    return;
  }
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

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
#define INSTRUCT_Q8_TILE 1
// Several activation rows (prefill, batched decoding): tiles of MT activation rows x NT weight
// rows, two blocks per 512-bit register. Activations are made unsigned once (u = q + 128, so
// dpbusd's u8 x s8 needs no sign trick per pair); each weight block pair's correction 128 * sum(w)
// starts its accumulator negated, so a pair costs dpbusd, convert, scale, fma.
// Activations and weights are laid out once per call (activations) or per group of weight rows
// (weights) as the registers want them: 64 bytes per pair of blocks (u8 values, or s8 values, the
// negated correction, the scales broadcast per block), so the tile loop is loads and 4 ops a pair.
struct PairVec {
  alignas(64) uint8_t b[64];
};

inline __m512i pair_qs(const BlockQ8* b, bool both) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs));
  const __m256i hi =
      both ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs)) : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
inline __m512 pair_scale(float lo, float hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}
inline __m512i ld(const PairVec& v) {
  return _mm512_load_si512(v.b);
}
inline __m512 ldf(const PairVec& v) {
  return _mm512_load_ps(reinterpret_cast<const float*>(v.b));
}

// Activation row m's pairs: u (q + 128) at [m * np + k], its scales at the same place in `d`.
struct TileActs {
  const PairVec *u, *d;
  int64_t np;
};
// Weight block pair k of a row as the tile wants it: its values, -128 * sum(values) (the start of
// its accumulators, which undoes the activations' + 128), its scales broadcast per block.
inline void weight_pair(const BlockQ8* b, bool both, __m512i& q, __m512i& nc, __m512& d) {
  const __m512i zero = _mm512_setzero_si512();
  q = pair_qs(b, both);
  nc = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(char(0x80)), q));
  d = pair_scale(_cvtsh_ss(b[0].d), both ? _cvtsh_ss(b[1].d) : 0.0f);
}

// Where a tile reads its weight rows: laid out once per group (row j's pairs at [j * np + k]), or
// straight from the blocks (each pair made as it is read: few activation rows share it).
struct LaidOutWeights {
  const PairVec *q, *nc, *d;
  int64_t np;
  void pair(int j, int64_t k, __m512i& wq, __m512i& wnc, __m512& wd) const {
    wq = ld(q[j * np + k]), wnc = ld(nc[j * np + k]), wd = ldf(d[j * np + k]);
  }
};
struct BlockWeights {
  const BlockQ8* rows;  // the tile's first weight row
  int64_t nb;
  void pair(int j, int64_t k, __m512i& wq, __m512i& wnc, __m512& wd) const {
    weight_pair(rows + j * nb + 2 * k, 2 * k + 1 < nb, wq, wnc, wd);
  }
};

// y[i * N + j] (+ bias[j]) for MT activation rows from `a`'s row m0 and NT weight rows from `w`.
template <int MT, int NT, class Weights>
void tile_vnni(const TileActs& a, int64_t m0, const Weights& w, float* y, int64_t N,
               const float* bias) {
  const int64_t np = a.np;
  __m512 acc[MT][NT];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < NT; j++) acc[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < np; k++) {
    __m512i wq[NT], nc[NT];
    __m512 dw[NT];
    for (int j = 0; j < NT; j++) w.pair(j, k, wq[j], nc[j], dw[j]);
    for (int i = 0; i < MT; i++) {
      const __m512i ua = ld(a.u[(m0 + i) * np + k]);
      const __m512 da = ldf(a.d[(m0 + i) * np + k]);
      for (int j = 0; j < NT; j++) {
        const __m512i p = _mm512_dpbusd_epi32(nc[j], ua, wq[j]);
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(da, dw[j]), acc[i][j]);
      }
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < NT; j++)
      y[(m0 + i) * N + j] = _mm512_reduce_add_ps(acc[i][j]) + (bias ? bias[j] : 0.0f);
}

// Batched decoding: all MT activation rows against weight rows n0, n0+2, ... of groups [g0, g1).
template <int MT>
void direct_rows(const TileActs& a, const BlockQ8* w, int64_t nb, int64_t N, float* y,
                 const float* bias, int64_t g0, int64_t g1) {
  for (int64_t n0 = 2 * g0; n0 < std::min(N, 2 * g1); n0 += 2) {
    const BlockWeights bw{w + n0 * nb, nb};
    const float* b = bias ? bias + n0 : nullptr;
    if (n0 + 1 < N)
      tile_vnni<MT, 2>(a, 0, bw, y + n0, N, b);
    else
      tile_vnni<MT, 1>(a, 0, bw, y + n0, N, b);
  }
}

template <int NT>
void tile_rows(const TileActs& a, int64_t m0, int mt, const LaidOutWeights& w, float* y, int64_t N,
               const float* bias) {
  switch (mt) {
    case 4:
      return tile_vnni<4, NT>(a, m0, w, y, N, bias);
    case 3:
      return tile_vnni<3, NT>(a, m0, w, y, N, bias);
    case 2:
      return tile_vnni<2, NT>(a, m0, w, y, N, bias);
    default:
      return tile_vnni<1, NT>(a, m0, w, y, N, bias);
  }
}

// y (M,N) for activations already quantized (aq, M rows of nb blocks), weight rows in groups of 4.
void gemm_tiles_vnni(float* y, const BlockQ8* aq, const BlockQ8* w, const float* bias, int64_t M,
                     int64_t N, int64_t nb) {
  const int64_t np = (nb + 1) / 2;
  thread_local std::vector<PairVec> au, ad;
  if (static_cast<int64_t>(au.size()) < M * np) au.resize(M * np), ad.resize(M * np);
  const __m512i c80 = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < np; k++) {
      const BlockQ8* b = aq + m * nb + 2 * k;
      const bool both = 2 * k + 1 < nb;
      // The missing half of an odd pair: u = 0 and scale 0 (so it adds nothing).
      const __m512i u = _mm512_xor_si512(pair_qs(b, both), c80);
      _mm512_store_si512(au[m * np + k].b,
                         both ? u : _mm512_inserti64x4(u, _mm256_setzero_si256(), 1));
      _mm512_store_ps(reinterpret_cast<float*>(ad[m * np + k].b),
                      pair_scale(_cvtsh_ss(b[0].d), both ? _cvtsh_ss(b[1].d) : 0.0f));
    }
  const TileActs a{au.data(), ad.data(), np};
  if (M <= 8) {  // batched decoding: pairs of weight rows against every activation row
    static constexpr decltype(&direct_rows<1>) kRows[] = {
        direct_rows<1>, direct_rows<2>, direct_rows<3>, direct_rows<4>,
        direct_rows<5>, direct_rows<6>, direct_rows<7>, direct_rows<8>};
    const int64_t groups = (N + 1) / 2;
#pragma omp parallel for schedule(static) if (N * nb * kQ8Block > 32768)
    for (int64_t g = 0; g < groups; g += 16) {
      const int64_t g1 = std::min(groups, g + 16);
      kRows[M - 1](a, w, nb, N, y, bias, g, g1);
    }
    return;
  }
  constexpr int64_t kNT = 4, kMT = 4;
  const int64_t groups = (N + kNT - 1) / kNT;
#pragma omp parallel if (N * nb * kQ8Block > 32768)
  {
    std::vector<PairVec> wq(kNT * np), wnc(kNT * np), wd(kNT * np);
#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; g++) {
      const int64_t n0 = g * kNT;
      const int nt = static_cast<int>(std::min<int64_t>(kNT, N - n0));
      for (int j = 0; j < nt; j++)
        for (int64_t k = 0; k < np; k++) {
          __m512i q, nc;
          __m512 d;
          weight_pair(w + (n0 + j) * nb + 2 * k, 2 * k + 1 < nb, q, nc, d);
          _mm512_store_si512(wq[j * np + k].b, q);
          _mm512_store_si512(wnc[j * np + k].b, nc);
          _mm512_store_ps(reinterpret_cast<float*>(wd[j * np + k].b), d);
        }
      const LaidOutWeights tw{wq.data(), wnc.data(), wd.data(), np};
      for (int64_t m0 = 0; m0 < M; m0 += kMT) {
        const int mt = static_cast<int>(std::min<int64_t>(kMT, M - m0));
        switch (nt) {
          case 4:
            tile_rows<4>(a, m0, mt, tw, y + n0, N, bias ? bias + n0 : nullptr);
            break;
          case 3:
            tile_rows<3>(a, m0, mt, tw, y + n0, N, bias ? bias + n0 : nullptr);
            break;
          case 2:
            tile_rows<2>(a, m0, mt, tw, y + n0, N, bias ? bias + n0 : nullptr);
            break;
          default:
            tile_rows<1>(a, m0, mt, tw, y + n0, N, bias ? bias + n0 : nullptr);
        }
      }
    }
  }
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

// From this many activation rows the VNNI kernel runs in 512-bit tiles.
constexpr int64_t kTileRows = 2;

void gemm_q8_0_with(Q8Kernel k, float* y, const float* x, const BlockQ8* w, const float* bias,
                    int64_t M, int64_t N, int64_t K) {
  check_k(K);
  const RowsFn rows = rows_of(k);
  const int64_t nb = K / kQ8Block;
  thread_local std::vector<BlockQ8> xq;
  if (static_cast<int64_t>(xq.size()) < M * nb) xq.resize(M * nb);
  BlockQ8* const aq = xq.data();
  q8_quantize(aq, x, M * K);
#if defined(INSTRUCT_Q8_TILE)
  if (k == Q8Kernel::kVnni && M >= kTileRows) return gemm_tiles_vnni(y, aq, w, bias, M, N, nb);
#endif
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
