// Every op of every registered backend (backend/), in every type it runs in, on odd shapes, against
// the double-precision scalar reference (llama.cpp's test-backend-ops): the element-wise kernels
// against the kernels' double instantiation (whose gradients test_kernels checks by finite
// differences), the cached attention in fp32 and bf16 against the training attention in double, and
// the linear seam in each weight type (fp32, bf16 plain, bf16 packed, Q8_0) against a double loop
// over the operands that type really multiplies (rounded to bf16, or quantized), forward and
// backward where there is one.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/backend.hpp"
#include "kernels/attention_cached.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"
#include "kernels/q8.hpp"
#include "model/block.hpp"

namespace instruct {
namespace {

// Random values already representable in float, as doubles (both sides start from the same
// numbers).
std::vector<double> rnd(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<float>(u(g));
  return v;
}
std::vector<float> tof(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}
// max |got - want| / max(|want|, floor): relative to the output's size.
double rel(const float* got, const double* want, size_t n, double floor = 1e-3) {
  double worst = 0, size = floor;
  for (size_t i = 0; i < n; i++) size = std::max(size, std::fabs(want[i]));
  for (size_t i = 0; i < n; i++) worst = std::max(worst, std::fabs(got[i] - want[i]));
  return worst / size;
}
double rel(const std::vector<float>& got, const std::vector<double>& want) {
  EXPECT_EQ(got.size(), want.size());
  return rel(got.data(), want.data(), std::min(got.size(), want.size()));
}

struct Shape {
  int B, T, C, NH;
};
const Shape kShapes[] = {{1, 1, 8, 1}, {2, 3, 6, 2}, {3, 7, 12, 3}, {1, 17, 20, 4}};
std::string name(const Shape& s) {
  return "B" + std::to_string(s.B) + " T" + std::to_string(s.T) + " C" + std::to_string(s.C) +
         " NH" + std::to_string(s.NH);
}
constexpr double kTol = 2e-5;  // fp32 against double on these sizes

TEST(BackendOps, EncoderForwardBackward) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (const Shape& s : kShapes) {
      const int V = 11, n = s.B * s.T * s.C;
      std::vector<int32_t> inp(s.B * s.T);
      for (size_t i = 0; i < inp.size(); i++) inp[i] = static_cast<int32_t>((i * 7 + 3) % V);
      auto wte = rnd(V * s.C, 1), wpe = rnd(s.T * s.C, 2), dout = rnd(n, 3);
      std::vector<double> out(n), dwte(V * s.C, 0.5), dwpe(s.T * s.C, 0.5);
      std::vector<float> outf(n), dwtef(V * s.C, 0.5f), dwpef(s.T * s.C, 0.5f);
      encoder_forward(out.data(), inp.data(), wte.data(), wpe.data(), s.B, s.T, s.C);
      be->encoder_forward(outf.data(), inp.data(), tof(wte).data(), tof(wpe).data(), s.B, s.T, s.C,
                          nullptr);
      encoder_backward(dwte.data(), dwpe.data(), dout.data(), inp.data(), s.B, s.T, s.C);
      be->encoder_backward(dwtef.data(), dwpef.data(), tof(dout).data(), inp.data(), s.B, s.T, s.C);
      EXPECT_LT(rel(outf, out), kTol) << name(s);
      EXPECT_LT(rel(dwtef, dwte), kTol) << name(s);  // accumulated onto 0.5
      EXPECT_LT(rel(dwpef, dwpe), kTol) << name(s);
    }
  }
}

// The inference embedding: rows of different sequences at their own positions.
TEST(BackendOps, EncoderAtGivenPositions) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    const int V = 13, P = 9, C = 6, N = 7;
    auto wte = rnd(V * C, 1), wpe = rnd(P * C, 2);
    std::vector<int32_t> tok(N), pos(N);
    for (int i = 0; i < N; i++) tok[i] = (i * 5 + 2) % V, pos[i] = (i * 4 + 1) % P;
    std::vector<float> out(N * C);
    be->encoder_forward(out.data(), tok.data(), tof(wte).data(), tof(wpe).data(), 1, N, C,
                        pos.data());
    for (int i = 0; i < N; i++)
      for (int c = 0; c < C; c++)
        ASSERT_NEAR(out[i * C + c], wte[tok[i] * C + c] + wpe[pos[i] * C + c], 1e-6);
  }
}

// Memory: allocation, fills, copies, row gathers and scatters, scaling, per-thread scratch.
TEST(BackendOps, MemoryOps) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (int64_t n : {int64_t{1}, int64_t{37}, int64_t{1} << 20}) {  // the last one huge-paged
      auto* p = static_cast<float*>(be->alloc(n * 4, n > 1000));
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
      const std::vector<float> src = tof(rnd(n, 3));
      be->copy(p, src.data(), n * 4);
      EXPECT_EQ(std::vector<float>(p, p + n), src);
      be->scale(p, -2.0f, n);
      for (int64_t i = 0; i < n; i++) ASSERT_EQ(p[i], -2.0f * src[i]);
      be->zero(p, n * 4);
      for (int64_t i = 0; i < n; i++) ASSERT_EQ(p[i], 0.0f);
      be->release(p);
    }
    const int R = 11, W = 5;
    const std::vector<float> rows = tof(rnd(R * W, 4));
    const std::vector<int32_t> pick{7, 0, 10, 3};
    std::vector<float> got(pick.size() * W), back(R * W, -1.0f);
    be->gather_rows(got.data(), rows.data(), pick.data(), 4, W);
    be->scatter_rows(back.data(), got.data(), pick.data(), 4, W);
    for (size_t k = 0; k < pick.size(); k++)
      for (int c = 0; c < W; c++) {
        ASSERT_EQ(got[k * W + c], rows[pick[k] * W + c]);
        ASSERT_EQ(back[pick[k] * W + c], rows[pick[k] * W + c]);
      }
    EXPECT_EQ(back[1 * W], -1.0f);  // rows not picked are left alone
    // bf16 rounding, into another buffer and in place (word i over float i/2), on odd lengths.
    for (int64_t n : {1, 2, 3, 5, 17, 65537, 200001}) {
      std::vector<float> x = tof(rnd(n, 9, 100.0));
      x[n / 2] = std::nanf("");
      std::vector<uint16_t> want(n);
      be->to_bf16(want.data(), x.data(), n);
      const uint16_t* got = be->to_bf16_in_place(x.data(), n);
      ASSERT_EQ(static_cast<const void*>(got), static_cast<void*>(x.data()));
      for (int64_t i = 0; i < n; i++) ASSERT_EQ(got[i], want[i]) << "n " << n << " at " << i;
    }
    char* a = static_cast<char*>(be->scratch(0, 100));
    char* b = static_cast<char*>(be->scratch(1, 100));
    EXPECT_NE(a, b);  // slots are distinct
    a[99] = 7;
    EXPECT_EQ(static_cast<char*>(be->scratch(0, 50))[99], 7);  // reused, not reallocated
  }
  DeviceBuffer d;
  d.resize(1000);
  d.zero();
  EXPECT_EQ(d.size(), 1000);
  EXPECT_EQ(d.data()[999], 0.0f);
  DeviceBuffer e = std::move(d);
  EXPECT_EQ(d.data(), nullptr);
  EXPECT_EQ(e.size(), 1000);
}

TEST(BackendOps, LayerNormForwardBackward) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (const Shape& s : kShapes) {
      const int N = s.B * s.T, C = s.C;
      auto x = rnd(N * C, 1, 3.0), w = rnd(C, 2), b = rnd(C, 3), dout = rnd(N * C, 4);
      std::vector<double> out(N * C), mean(N), rstd(N), dx(N * C, 0), dw(C, 0), db(C, 0);
      std::vector<float> outf(N * C), meanf(N), rstdf(N), dxf(N * C, 0), dwf(C, 0), dbf(C, 0);
      layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
      be->layernorm_forward(outf.data(), meanf.data(), rstdf.data(), tof(x).data(), tof(w).data(),
                            tof(b).data(), N, C);
      layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(),
                         mean.data(), rstd.data(), N, C);
      be->layernorm_backward(dxf.data(), dwf.data(), dbf.data(), tof(dout).data(), tof(x).data(),
                             tof(w).data(), meanf.data(), rstdf.data(), N, C);
      for (auto [got, want, what] : {std::tuple{&outf, &out, "out"},
                                     {&meanf, &mean, "mean"},
                                     {&rstdf, &rstd, "rstd"},
                                     {&dxf, &dx, "dinp"},
                                     {&dwf, &dw, "dweight"},
                                     {&dbf, &db, "dbias"}})
        EXPECT_LT(rel(*got, *want), kTol) << name(s) << " " << what;
    }
  }
}

TEST(BackendOps, AttentionForwardBackward) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (const Shape& s : kShapes) {
      const int n = s.B * s.T * s.C;
      auto qkv = rnd(3 * n, 1), dout = rnd(n, 2);
      std::vector<double> out(n), att(s.B * s.NH * s.T * s.T), dqkv(3 * n, 0);
      std::vector<float> outf(n), attf(att.size()), dqkvf(3 * n, 0);
      attention_forward(out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
      be->attention_forward(outf.data(), attf.data(), tof(qkv).data(), s.B, s.T, s.C, s.NH);
      attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), s.B, s.T, s.C, s.NH);
      be->attention_backward(dqkvf.data(), tof(dout).data(), tof(qkv).data(), attf.data(), s.B, s.T,
                             s.C, s.NH);
      EXPECT_LT(rel(outf, out), kTol) << name(s);
      EXPECT_LT(rel(attf, att), kTol) << name(s);
      EXPECT_LT(rel(dqkvf, dqkv), kTol) << name(s);
    }
  }
}

// The inference attention reads keys and values from a cache (fp32, or bf16 entries): the same
// rows as the training attention, each sequence in its own slot, every position a query.
TEST(BackendOps, CachedAttentionInEachCacheType) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (const Shape& s : kShapes) {
      const int n = s.B * s.T * s.C, N = s.B * s.T, HS = s.C / s.NH;
      auto qkv = rnd(3 * n, 1);
      std::vector<double> want(n), att(s.B * s.NH * s.T * s.T);
      attention_forward(want.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
      const KVLayout L{s.NH, HS, s.T + 2};
      std::vector<int32_t> slot(N), pos(N);
      for (int r = 0; r < N; r++) slot[r] = r / s.T, pos[r] = r % s.T;
      const std::vector<float> q = tof(qkv);
      std::vector<float> scratch(static_cast<size_t>(omp_get_max_threads()) * L.max_len), out(n);
      auto run = [&](auto* k, auto* v) {
        if constexpr (std::is_same_v<decltype(k), float*>) {
          be->kv_store_f32(k, v, q.data(), slot.data(), pos.data(), N, L);
          be->attention_cached_f32(out.data(), q.data(), k, v, slot.data(), pos.data(), N, L,
                                   scratch.data());
        } else {
          be->kv_store_bf16(k, v, q.data(), slot.data(), pos.data(), N, L);
          be->attention_cached_bf16(out.data(), q.data(), k, v, slot.data(), pos.data(), N, L,
                                    scratch.data());
        }
      };
      std::vector<float> k32(s.B * L.slot_stride()), v32(k32.size());
      run(k32.data(), v32.data());
      EXPECT_LT(rel(out, want), kTol) << name(s) << " fp32 cache";
      std::vector<uint16_t> k16(k32.size()), v16(k32.size());
      run(k16.data(), v16.data());
      const double e16 = rel(out, want);
      EXPECT_GT(e16, 0.0) << name(s);  // the entries really are rounded
      EXPECT_LT(e16, 1e-2) << name(s) << " bf16 cache";
    }
  }
}

TEST(BackendOps, ElementwiseForwardBackward) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (int64_t N : {1, 37, 1001}) {
      auto x = rnd(N, 1, 4.0), y = rnd(N, 2), dout = rnd(N, 3);
      std::vector<double> g(N), dg(N, 0.25), r(N), da(N, 0.5), db(N, -0.5);
      std::vector<float> gf(N), dgf(N, 0.25f), rf(N), daf(N, 0.5f), dbf(N, -0.5f);
      gelu_forward(g.data(), x.data(), N);
      be->gelu_forward(gf.data(), tof(x).data(), N);
      gelu_backward(dg.data(), x.data(), dout.data(), N);
      be->gelu_backward(dgf.data(), tof(x).data(), tof(dout).data(), N);
      residual_forward(r.data(), x.data(), y.data(), N);
      be->residual_forward(rf.data(), tof(x).data(), tof(y).data(), N);
      residual_backward(da.data(), db.data(), dout.data(), N);
      be->residual_backward(daf.data(), dbf.data(), tof(dout).data(), N);
      for (auto [got, want, what] : {std::tuple{&gf, &g, "gelu"},
                                     {&dgf, &dg, "gelu backward"},
                                     {&rf, &r, "residual"},
                                     {&daf, &da, "residual da"},
                                     {&dbf, &db, "residual db"}})
        EXPECT_LT(rel(*got, *want), kTol) << N << " " << what;
    }
    for (auto [N, OC] : {std::pair{1, 1}, {7, 5}, {33, 19}}) {
      auto dout = rnd(N * OC, 4);
      std::vector<double> db(OC, 1.0);
      std::vector<float> dbf(OC, 1.0f);
      bias_backward(db.data(), dout.data(), N, OC);
      be->bias_backward(dbf.data(), tof(dout).data(), N, OC);
      EXPECT_LT(rel(dbf, db), kTol) << N << "x" << OC;
    }
    for (auto [R, Cc] : {std::pair{1, 1}, {5, 3}, {33, 70}}) {
      auto w = rnd(R * Cc, 5);
      std::vector<float> t(R * Cc);
      transpose(t.data(), tof(w).data(), R, Cc);
      for (int r = 0; r < R; r++)
        for (int c = 0; c < Cc; c++) ASSERT_EQ(t[c * R + r], static_cast<float>(w[r * Cc + c]));
    }
  }
}

TEST(BackendOps, LossHeadsForwardBackward) {
  for (const Backend* be : backends()) {
    SCOPED_TRACE(be->name);
    for (auto [N, V] : {std::pair{1, 3}, {5, 17}, {9, 257}}) {
      auto logits = rnd(N * V, 1, 5.0);
      std::vector<int32_t> tgt(N);
      for (int i = 0; i < N; i++) tgt[i] = i % 4 == 3 ? -100 : (i * 5 + 1) % V;
      std::vector<double> l = logits;
      std::vector<float> lf = tof(logits);
      int64_t c1 = 0, c2 = 0, c3 = 0;
      const double loss_only = be->crossentropy_forward(lf.data(), tgt.data(), N, V, &c3);
      const double loss = crossentropy_forward_backward(l.data(), tgt.data(), N, V, &c1);
      const double lossf = be->crossentropy_forward_backward(lf.data(), tgt.data(), N, V, &c2, 0);
      EXPECT_EQ(c1, c2);
      EXPECT_EQ(c1, c3);
      EXPECT_NEAR(lossf, loss, kTol * std::max(1.0, loss));
      EXPECT_NEAR(loss_only, loss, kTol * std::max(1.0, loss));
      EXPECT_LT(rel(lf, l), kTol) << N << "x" << V << " dlogits";
      // Label log-probabilities and their backward with per-row weights.
      std::vector<int32_t> lab(N);
      for (int i = 0; i < N; i++) lab[i] = (i * 3 + 2) % V;
      std::vector<double> lp(N), lpf(N), w = rnd(N, 7);
      l = logits, lf = tof(logits);
      logprob_rows(lp.data(), l.data(), lab.data(), N, V);
      be->logprob_rows(lpf.data(), lf.data(), lab.data(), N, V);
      for (int i = 0; i < N; i++)
        EXPECT_NEAR(lpf[i], lp[i], kTol * std::max(1.0, std::fabs(lp[i])));
      logprob_rows_backward(l.data(), lab.data(), w.data(), N, V);
      be->logprob_rows_backward(lf.data(), lab.data(), w.data(), N, V);
      EXPECT_LT(rel(lf, l), kTol) << N << "x" << V << " logprob backward";
    }
  }
}

// The linear seam in each weight type: y = x W + b through linear_forward, against a double loop
// over what that type multiplies; dinp, dW and db through linear_backward where the type trains.
TEST(BackendOps, LinearInEveryWeightType) {
  gemm_emulate_bf16(
      true);  // where the CPU has no bf16 matmul, the seam emulates it (same numerics)
  const auto round16 = [](double v) {
    uint16_t h;
    const float f = static_cast<float>(v);
    to_bf16(&h, &f, 1);
    return static_cast<double>(from_bf16(h));
  };
  for (auto shape : {std::tuple{1, 32, 7}, {3, 64, 33}, {17, 96, 50}, {5, 160, 3}}) {
    const int N = std::get<0>(shape), in = std::get<1>(shape), out = std::get<2>(shape);
    for (WeightLayout layout : {WeightLayout::kConv1D, WeightLayout::kLinear}) {
      const bool conv = layout == WeightLayout::kConv1D;
      auto x = rnd(N * in, 1), w = rnd(in * out, 2, 0.2), b = rnd(out, 3), dout = rnd(N * out, 4);
      const std::vector<float> xf = tof(x), wf = tof(w), bf = tof(b), doutf = tof(dout);
      // W as [out, in] rows (the Q8_0 layout), whatever its stored layout.
      std::vector<float> rows(in * out);
      for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) rows[o * in + i] = conv ? wf[i * out + o] : wf[o * in + i];
      auto W = [&](int i, int o) { return static_cast<double>(rows[o * in + i]); };
      std::vector<uint16_t> w16(wf.size());
      to_bf16(w16.data(), wf.data(), static_cast<int64_t>(wf.size()));
      PackedWeight packed;
      packed.pack(wf.data(), in, out, !conv);
      std::vector<BlockQ8> wq(out * in / kQ8Block), xq(N * in / kQ8Block);
      q8_quantize(wq.data(), rows.data(), out * in);
      q8_quantize(xq.data(), xf.data(), N * in);
      std::vector<float> wdq(out * in), xdq(N * in);
      q8_dequantize(wdq.data(), wq.data(), out * in);
      q8_dequantize(xdq.data(), xq.data(), N * in);
      struct Case {
        const char* what;
        WeightRef ref;
      };
      const Case cases[] = {{"fp32", {DType::kF32, wf.data(), nullptr, layout}},
                            {"bf16", {DType::kBF16, w16.data(), nullptr, layout}},
                            {"bf16 packed", {DType::kBF16, nullptr, &packed, layout}},
                            {"q8_0", {DType::kQ8_0, wq.data(), nullptr, WeightLayout::kLinear}}};
      for (const Case& c : cases) {
        const Linear L{c.ref, bf.data(), in, out, {}};
        std::vector<float> y(N * out);
        linear_forward(L, y.data(), xf.data(), N);
        std::vector<double> want(N * out), size(N * out);
        for (int n = 0; n < N; n++)
          for (int o = 0; o < out; o++) {
            double s = b[o], a = std::fabs(b[o]);
            for (int i = 0; i < in; i++) {
              const double xv = x[n * in + i];
              const double p = c.ref.dtype == DType::kQ8_0
                                   ? double{xdq[n * in + i]} * wdq[o * in + i]
                               : c.ref.dtype == DType::kBF16 ? round16(xv) * round16(W(i, o))
                                                             : xv * W(i, o);
              s += p, a += std::fabs(p);
            }
            want[n * out + o] = s, size[n * out + o] = a;
          }
        for (int j = 0; j < N * out; j++)
          ASSERT_NEAR(y[j], want[j], 1e-5 * (size[j] + 1))
              << c.what << (conv ? " Conv1D" : " Linear") << " N" << N << " in" << in << " out"
              << out << " at " << j;
        if (c.ref.dtype == DType::kQ8_0 || c.ref.packed) {  // inference only: a backward refuses
          std::vector<float> dx(N * in);
          EXPECT_ANY_THROW(
              linear_backward(L, dx.data(), nullptr, nullptr, doutf.data(), xf.data(), N));
          continue;
        }
        // dinp = dout W^T, dW += in^T dout (in W's layout), db += sum(dout): onto 0.5.
        std::vector<float> dx(N * in), dw(in * out, 0.5f), db(out, 0.5f);
        linear_backward(L, dx.data(), dw.data(), db.data(), doutf.data(), xf.data(), N);
        const bool half = c.ref.dtype == DType::kBF16;
        auto op = [&](double v) { return half ? round16(v) : v; };
        for (int n = 0; n < N; n++)
          for (int i = 0; i < in; i++) {
            double s = 0, a = 0;
            for (int o = 0; o < out; o++) {
              const double p = op(dout[n * out + o]) * op(W(i, o));
              s += p, a += std::fabs(p);
            }
            ASSERT_NEAR(dx[n * in + i], s, 1e-5 * (a + 1)) << c.what << " dinp";
          }
        for (int i = 0; i < in; i++)
          for (int o = 0; o < out; o++) {
            double s = 0.5, a = 0.5;
            for (int n = 0; n < N; n++) {
              const double p = op(x[n * in + i]) * op(dout[n * out + o]);
              s += p, a += std::fabs(p);
            }
            ASSERT_NEAR(dw[conv ? i * out + o : o * in + i], s, 1e-5 * (a + 1)) << c.what << " dW";
          }
        for (int o = 0; o < out; o++) {
          double s = 0.5;
          for (int n = 0; n < N; n++) s += dout[n * out + o];
          ASSERT_NEAR(db[o], s, 1e-5 * (std::fabs(s) + N)) << c.what << " db";
        }
      }
    }
  }
  gemm_emulate_bf16(false);
}

}  // namespace
}  // namespace instruct
