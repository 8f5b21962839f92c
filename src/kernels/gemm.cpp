// gemm() on oneDNN 2.6 matmul (matmul::desc + primitive_desc(desc, attr, engine)). Transposes are
// strides, accumulation is a sum post-op, and primitives are cached by shape so a training step
// never re-creates one.
#include "kernels/gemm.hpp"

#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/sys.hpp"

namespace instruct {

namespace {

using dnnl::memory;

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, bool, bool, bool, int64_t, int64_t,
                         int64_t, bool>;
  struct Prim {
    dnnl::matmul matmul;
    memory::desc a, b, c, bias;
    GemmShapeStats stats;
  };
  std::map<Key, Prim> cache;
  std::mutex mu;
  GemmStats stats;
};

Dnnl& dnnl_state() {
  static Dnnl d;
  return d;
}

// The blocked layout oneDNN picks for a bf16 weight of logical shape [K,N] (the same for every
// row count M, so one packing serves prefill, decoding and training).
memory::desc packed_desc(Dnnl& d, int64_t K, int64_t N) {
  const auto bf16 = memory::data_type::bf16;
  const memory::desc a({64, K}, bf16, memory::dims{K, 1}), b({K, N}, bf16, memory::format_tag::any),
      c({64, N}, memory::data_type::f32, memory::dims{N, 1});
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), d.engine).weights_desc();
}

// `packed`: B is a PackedWeight of shape [K,N] (its layout is packed_desc's; trans_b, ldb unused).
Dnnl::Prim& primitive(Dnnl& d, const GemmArgs& g, bool has_bias, bool bf16 = false,
                      bool packed = false) {
  const int64_t lda = g.lda_or_packed(), ldb = packed ? 0 : g.ldb_or_packed(),
                ldc = g.ldc_or_packed();
  const Dnnl::Key key{g.M,          g.N,      g.K,  g.trans_a, packed ? false : g.trans_b,
                      g.accumulate, has_bias, bf16, lda,       ldb,
                      ldc,          packed};
  std::lock_guard<std::mutex> lock(d.mu);
  auto it = d.cache.find(key);
  if (it != d.cache.end()) return it->second;
  const auto f32 = memory::data_type::f32;
  const auto in = bf16 ? memory::data_type::bf16 : f32;
  Dnnl::Prim p;
  p.a = memory::desc({g.M, g.K}, in, g.trans_a ? memory::dims{1, lda} : memory::dims{lda, 1});
  p.b = packed      ? packed_desc(d, g.K, g.N)
        : g.trans_b ? memory::desc({g.K, g.N}, in, memory::dims{1, ldb})
                    : memory::desc({g.K, g.N}, in, memory::dims{ldb, 1});
  p.c = memory::desc({g.M, g.N}, f32, memory::dims{ldc, 1});
  p.bias = has_bias ? memory::desc({1, g.N}, f32, memory::dims{g.N, 1}) : memory::desc();
  dnnl::primitive_attr attr;
  if (g.accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  dnnl::matmul::desc desc =
      has_bias ? dnnl::matmul::desc(p.a, p.b, p.bias, p.c) : dnnl::matmul::desc(p.a, p.b, p.c);
  p.matmul = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, d.engine));
  p.stats.g = g, p.stats.bf16 = bf16, p.stats.bias = has_bias, p.stats.packed = packed;
  if (packed) p.stats.g.trans_b = false, p.stats.g.ldb = 0;
  return d.cache.emplace(key, std::move(p)).first->second;
}

}  // namespace

namespace {

void gemm_any(float* C, const void* A, const void* B, const float* bias, const GemmArgs& g,
              bool bf16, bool packed = false) {
  Dnnl& d = dnnl_state();
  const auto t0 = std::chrono::steady_clock::now();
  Dnnl::Prim& p = primitive(d, g, bias != nullptr, bf16, packed);
  auto mem = [&](const memory::desc& md, const void* ptr) {
    return memory(md, d.engine, const_cast<void*>(ptr));
  };
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, mem(p.a, A)}, {DNNL_ARG_WEIGHTS, mem(p.b, B)}, {DNNL_ARG_DST, mem(p.c, C)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, mem(p.bias, bias));
  p.matmul.execute(d.stream, args);
  d.stream.wait();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> lock(d.mu);  // gemms may run on several threads (a server's)
  d.stats.calls++;
  d.stats.flops +=
      2.0 * static_cast<double>(g.M) * static_cast<double>(g.N) * static_cast<double>(g.K);
  d.stats.seconds += seconds;
  p.stats.calls++;
  p.stats.seconds += seconds;
}

}  // namespace

namespace {
bool emulate_bf16 = false;
}  // namespace

void gemm_emulate_bf16(bool on) {
  emulate_bf16 = on;
}

void gemm_bf16(float* C, const uint16_t* A, const uint16_t* B, const float* bias,
               const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0 || g.K <= 0) fail("internal: bf16 gemm of ", g.M, "x", g.N, "x", g.K);
  if (emulate_bf16 && !gemm_machine().bf16) {
    // The operands widened to fp32 with their strides (the last row ends at its last column).
    auto widen = [](const uint16_t* x, int64_t rows, int64_t cols, int64_t ld) {
      std::vector<float> f(static_cast<size_t>((rows - 1) * ld + cols));
#pragma omp parallel for
      for (int64_t i = 0; i < static_cast<int64_t>(f.size()); i++) f[i] = from_bf16(x[i]);
      return f;
    };
    const std::vector<float> a =
        g.trans_a ? widen(A, g.K, g.M, g.lda_or_packed()) : widen(A, g.M, g.K, g.lda_or_packed());
    const std::vector<float> b =
        g.trans_b ? widen(B, g.N, g.K, g.ldb_or_packed()) : widen(B, g.K, g.N, g.ldb_or_packed());
    return gemm(C, a.data(), b.data(), bias, g);
  }
  gemm_require_bf16("bf16 matmul");
  gemm_any(C, A, B, bias, g, true);
}

struct PackedWeight::Impl {
  int64_t K = 0, N = 0;
  bool trans = false;
  memory packed;                  // oneDNN's blocked bf16 layout
  dnnl::reorder from_fp32;        // fp32 plain -> packed: the rounding and the blocking at once
  memory::desc fp32_md;           // the master's layout
  std::vector<uint16_t> plain16;  // under the emulation: a plain bf16 copy instead
};

PackedWeight::PackedWeight() = default;
PackedWeight::~PackedWeight() = default;
PackedWeight::PackedWeight(PackedWeight&&) noexcept = default;
PackedWeight& PackedWeight::operator=(PackedWeight&&) noexcept = default;
int64_t PackedWeight::bytes() const {
  if (!impl_) return 0;
  return impl_->plain16.empty() ? static_cast<int64_t>(impl_->packed.get_desc().get_size())
                                : static_cast<int64_t>(impl_->plain16.size() * 2);
}

void PackedWeight::pack(const float* W, int64_t K, int64_t N, bool trans) {
  if (K <= 0 || N <= 0) fail("internal: packing a ", K, "x", N, " weight");
  const bool emulated = emulate_bf16 && !gemm_machine().bf16;
  if (!emulated) gemm_require_bf16("bf16 matmul");
  if (!impl_ || impl_->K != K || impl_->N != N || impl_->trans != trans) {
    impl_ = std::make_unique<Impl>();
    impl_->K = K, impl_->N = N, impl_->trans = trans;
    if (!emulated) {
      Dnnl& d = dnnl_state();
      impl_->fp32_md = memory::desc({K, N}, memory::data_type::f32,
                                    trans ? memory::dims{1, K} : memory::dims{N, 1});
      impl_->packed = memory(packed_desc(d, K, N), d.engine);
      impl_->from_fp32 = dnnl::reorder(dnnl::reorder::primitive_desc(
          d.engine, impl_->fp32_md, d.engine, impl_->packed.get_desc()));
    }
  }
  if (emulated) {  // plain [K,N], as gemm_bf16 takes it packed
    impl_->plain16.resize(static_cast<size_t>(K * N));
    std::vector<float> kn(static_cast<size_t>(K * N));
    for (int64_t k = 0; k < K; k++)
      for (int64_t n = 0; n < N; n++) kn[k * N + n] = trans ? W[n * K + k] : W[k * N + n];
    to_bf16(impl_->plain16.data(), kn.data(), K * N);
    return;
  }
  Dnnl& d = dnnl_state();
  memory src(impl_->fp32_md, d.engine, const_cast<float*>(W));
  impl_->from_fp32.execute(d.stream, src, impl_->packed);
  d.stream.wait();
}

void gemm_bf16_packed(float* C, const uint16_t* A, const PackedWeight& W, const float* bias,
                      const GemmArgs& g) {
  if (W.empty()) fail("internal: gemm with an empty packed weight");
  const PackedWeight::Impl& w = W.impl();
  if (g.K != w.K || g.N != w.N || g.M <= 0)
    fail("internal: packed gemm ", g.M, "x", g.N, "x", g.K, " on a ", w.K, "x", w.N, " weight");
  if (!w.plain16.empty()) {  // the emulation
    GemmArgs p = g;
    p.trans_b = false, p.ldb = 0;
    return gemm_bf16(C, A, w.plain16.data(), bias, p);
  }
  gemm_any(C, A, w.packed.get_data_handle(), bias, g, true, true);
}

void to_bf16(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
      dst[i] = static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    else
      dst[i] = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
}

uint16_t* to_bf16_in_place(float* x, int64_t n) {
  // Word j takes bytes [2j, 2j+2): half of float j/2. A range [lo, hi) with hi <= 2 lo reads floats
  // [lo, hi) and writes inside floats [lo/2, lo), already read: ranges of doubling size, each one
  // in parallel, the reads and writes of one range disjoint.
  auto* out = reinterpret_cast<uint16_t*>(x);
  if (n > 0) to_bf16(out, x, 1);
  for (int64_t lo = 1; lo < n; lo *= 2) to_bf16(out + lo, x + lo, std::min(n, 2 * lo) - lo);
  return out;
}

float from_bf16(uint16_t v) {
  const uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void gemm(float* C, const float* A, const float* B, const float* bias, const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0 || g.K <= 0) {
    if (g.M > 0 && g.N > 0 && g.K == 0 && !g.accumulate) {  // empty sum
      for (int64_t i = 0; i < g.M; i++)
        for (int64_t j = 0; j < g.N; j++) C[i * g.ldc_or_packed() + j] = bias ? bias[j] : 0.0f;
    }
    return;
  }
  gemm_any(C, A, B, bias, g, false);
}

GemmStats gemm_stats() {
  Dnnl& d = dnnl_state();
  std::lock_guard<std::mutex> lock(d.mu);
  return d.stats;
}

std::vector<GemmShapeStats> gemm_shape_stats() {
  Dnnl& d = dnnl_state();
  std::lock_guard<std::mutex> lock(d.mu);
  std::vector<GemmShapeStats> out;
  for (const auto& [key, p] : d.cache) out.push_back(p.stats);
  return out;
}

void gemm_naive(float* C, const float* A, const float* B, const float* bias, const GemmArgs& g) {
  const int64_t lda = g.lda_or_packed(), ldb = g.ldb_or_packed(), ldc = g.ldc_or_packed();
  for (int64_t i = 0; i < g.M; i++) {
    for (int64_t j = 0; j < g.N; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t k = 0; k < g.K; k++) {
        const float a = g.trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = g.trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<double>(a) * b;
      }
      C[i * ldc + j] = static_cast<float>(acc + (g.accumulate ? C[i * ldc + j] : 0.0));
    }
  }
}

namespace {

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "isa?";
  }
}

// The implementation oneDNN picks for a (64 x 1024) @ (1024 x 1024) matmul, "" if it has none.
std::string probe_impl(memory::data_type in) {
  try {
    Dnnl& d = dnnl_state();
    const memory::desc a({64, 1024}, in, memory::dims{1024, 1}),
        b({1024, 1024}, in, memory::dims{1024, 1});
    const memory::desc c({64, 1024}, memory::data_type::f32, memory::dims{1024, 1});
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), d.engine).impl_info_str();
  } catch (const dnnl::error&) {
    return "";
  }
}

}  // namespace

const GemmMachine& gemm_machine() {
  static const GemmMachine m = [] {
    GemmMachine g;
    g.cpu = cpu_model_name();
    g.features = cpu_has_flag("avx512f") ? "AVX-512"
                 : cpu_has_flag("avx2")  ? "AVX2 (no AVX-512)"
                                         : "no AVX2";
    g.features += cpu_has_flag("avx512_bf16") ? ", AVX512-BF16" : ", no AVX512-BF16";
    g.features += cpu_has_flag("amx_bf16") ? ", AMX-BF16" : ", no AMX";
    g.isa = isa_name(dnnl::get_effective_cpu_isa());
    g.fp32_impl = probe_impl(memory::data_type::f32);
    g.bf16_impl = probe_impl(memory::data_type::bf16);
    g.bf16 = !g.bf16_impl.empty();
    return g;
  }();
  return m;
}

std::string gemm_machine_line() {
  const GemmMachine& m = gemm_machine();
  return m.cpu + " · " + m.features + " · oneDNN " + m.isa + " (fp32 " + m.fp32_impl + ", bf16 " +
         (m.bf16 ? m.bf16_impl : std::string("not available")) + ")";
}

void gemm_require_bf16(const std::string& what) {
  const GemmMachine& m = gemm_machine();
  if (!m.bf16 && !emulate_bf16)
    fail(what, ": this CPU (", m.cpu, "; ", m.features,
         ") cannot run bf16 matmuls in oneDNN 2.6, which needs "
         "AVX-512; use fp32 here");
}

int64_t gemm_cached_primitives() {
  Dnnl& d = dnnl_state();
  std::lock_guard<std::mutex> lock(d.mu);
  return static_cast<int64_t>(d.cache.size());
}

}  // namespace instruct
