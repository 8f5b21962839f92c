// gemm() on oneDNN 2.6 matmul (matmul::desc + primitive_desc(desc, attr, engine)). Transposes are
// strides, accumulation is a sum post-op, and primitives are cached by shape so a training step
// never re-creates one.
#include "kernels/gemm.hpp"

#include <dnnl.hpp>

#include <chrono>
#include <cstring>
#include <map>
#include <unordered_map>
#include <mutex>
#include <tuple>

#include "core/error.hpp"

namespace instruct {

namespace {

using dnnl::memory;

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, bool, bool, bool>;
  struct Prim {
    dnnl::matmul matmul;
    memory::desc a, b, c, bias;
  };
  std::map<Key, Prim> cache;
  std::mutex mu;
  GemmStats stats;
};

Dnnl& dnnl_state() {
  static Dnnl d;
  return d;
}

Dnnl::Prim& primitive(Dnnl& d, const GemmArgs& g, bool has_bias, bool bf16 = false) {
  const Dnnl::Key key{g.M, g.N, g.K, g.trans_a, g.trans_b, g.accumulate, has_bias, bf16};
  std::lock_guard<std::mutex> lock(d.mu);
  auto it = d.cache.find(key);
  if (it != d.cache.end()) return it->second;
  const auto f32 = memory::data_type::f32;
  const auto in = bf16 ? memory::data_type::bf16 : f32;
  Dnnl::Prim p;
  p.a = memory::desc({g.M, g.K}, in, g.trans_a ? memory::dims{1, g.M} : memory::dims{g.K, 1});
  p.b = memory::desc({g.K, g.N}, in, g.trans_b ? memory::dims{1, g.K} : memory::dims{g.N, 1});
  p.c = memory::desc({g.M, g.N}, f32, memory::dims{g.N, 1});
  p.bias = has_bias ? memory::desc({1, g.N}, f32, memory::dims{g.N, 1}) : memory::desc();
  dnnl::primitive_attr attr;
  if (g.accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  dnnl::matmul::desc desc = has_bias ? dnnl::matmul::desc(p.a, p.b, p.bias, p.c)
                                     : dnnl::matmul::desc(p.a, p.b, p.c);
  p.matmul = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, d.engine));
  return d.cache.emplace(key, std::move(p)).first->second;
}

}  // namespace

namespace {

void gemm_any(float* C, const void* A, const void* B, const float* bias, const GemmArgs& g, bool bf16) {
  Dnnl& d = dnnl_state();
  const auto t0 = std::chrono::steady_clock::now();
  Dnnl::Prim& p = primitive(d, g, bias != nullptr, bf16);
  auto mem = [&](const memory::desc& md, const void* ptr) { return memory(md, d.engine, const_cast<void*>(ptr)); };
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, mem(p.a, A)}, {DNNL_ARG_WEIGHTS, mem(p.b, B)}, {DNNL_ARG_DST, mem(p.c, C)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, mem(p.bias, bias));
  p.matmul.execute(d.stream, args);
  d.stream.wait();
  d.stats.calls++;
  d.stats.flops += 2.0 * static_cast<double>(g.M) * static_cast<double>(g.N) * static_cast<double>(g.K);
  d.stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void gemm_bf16(float* C, const uint16_t* A, const uint16_t* B, const float* bias, const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0 || g.K <= 0) fail("internal: bf16 gemm of ", g.M, "x", g.N, "x", g.K);
  gemm_any(C, A, B, bias, g, true);
}

void to_bf16(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) dst[i] = static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    else dst[i] = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
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
        for (int64_t j = 0; j < g.N; j++) C[i * g.N + j] = bias ? bias[j] : 0.0f;
    }
    return;
  }
  gemm_any(C, A, B, bias, g, false);
}

GemmStats gemm_stats() { return dnnl_state().stats; }

void gemm_naive(float* C, const float* A, const float* B, const float* bias, const GemmArgs& g) {
  for (int64_t i = 0; i < g.M; i++) {
    for (int64_t j = 0; j < g.N; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t k = 0; k < g.K; k++) {
        const float a = g.trans_a ? A[k * g.M + i] : A[i * g.K + k];
        const float b = g.trans_b ? B[j * g.K + k] : B[k * g.N + j];
        acc += static_cast<double>(a) * b;
      }
      C[i * g.N + j] = static_cast<float>(acc + (g.accumulate ? C[i * g.N + j] : 0.0));
    }
  }
}

int64_t gemm_cached_primitives() {
  Dnnl& d = dnnl_state();
  std::lock_guard<std::mutex> lock(d.mu);
  return static_cast<int64_t>(d.cache.size());
}

}  // namespace instruct
