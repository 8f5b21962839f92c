// Kernels: oneDNN gemm against the naive loop on odd sizes; every backward against central finite
// differences in double on tiny shapes; AdamW against its formula.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "core/sys.hpp"
#include "kernels/adamw.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layers.hpp"
#include "kernels/q8.hpp"

namespace instruct {
namespace {

std::vector<float> randf(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}
std::vector<double> randd(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(Gemm, MatchesNaiveOnOddSizes) {
  const int64_t sizes[] = {1, 7, 63, 65};
  uint32_t seed = 1;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : {int64_t{1}, int64_t{7}, int64_t{65}})
        for (int ta = 0; ta < 2; ta++)
          for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++)
              for (int with_bias = 0; with_bias < 2; with_bias++) {
                GemmArgs g{M, N, K, ta == 1, tb == 1, acc == 1};
                auto A = randf(M * K, seed++), B = randf(K * N, seed++), bias = randf(N, seed++);
                auto C0 = randf(M * N, seed++);
                auto C1 = C0;
                const float* bp = with_bias ? bias.data() : nullptr;
                gemm(C0.data(), A.data(), B.data(), bp, g);
                gemm_naive(C1.data(), A.data(), B.data(), bp, g);
                double worst = 0;
                for (size_t i = 0; i < C0.size(); i++)
                  worst = std::max(worst, std::fabs(double(C0[i]) - C1[i]));
                ASSERT_LT(worst, 1e-4 * std::sqrt(double(K)) + 1e-5)
                    << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb
                    << " acc=" << acc << " bias=" << with_bias;
              }
}

// Operands that are column blocks of wider matrices (leading dimensions), as a LoRA piece reads and
// writes its slice of the fused q|k|v columns.
TEST(Gemm, LeadingDimensionsMatchNaive) {
  uint32_t seed = 77;
  const int64_t M = 9, N = 5, K = 6, pad = 4;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int acc = 0; acc < 2; acc++) {
        GemmArgs g{M, N, K, ta == 1, tb == 1, acc == 1};
        g.lda = (ta ? M : K) + pad, g.ldb = (tb ? K : N) + pad + 1, g.ldc = N + pad + 2;
        auto A = randf((ta ? K : M) * g.lda, seed++), B = randf((tb ? N : K) * g.ldb, seed++);
        auto C0 = randf(M * g.ldc, seed++);
        auto C1 = C0;
        gemm(C0.data(), A.data(), B.data(), nullptr, g);
        gemm_naive(C1.data(), A.data(), B.data(), nullptr, g);
        for (size_t i = 0; i < C0.size(); i++)
          ASSERT_NEAR(C0[i], C1[i], 1e-4)
              << "ta=" << ta << " tb=" << tb << " acc=" << acc << " at " << i;
        // The reference itself, written out: the block is op(A) op(B), C's other columns untouched.
        const auto Cin = randf(M * g.ldc, seed - 1);
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = 0; j < g.ldc; j++) {
            double want = acc || j >= N ? Cin[i * g.ldc + j] : 0.0;
            for (int64_t k = 0; j < N && k < K; k++)
              want += double(ta ? A[k * g.lda + i] : A[i * g.lda + k]) *
                      (tb ? B[j * g.ldb + k] : B[k * g.ldb + j]);
            ASSERT_NEAR(C1[i * g.ldc + j], want, 1e-5) << i << "," << j;
          }
      }
}

TEST(Gemm, PrimitivesAreCachedByShape) {
  auto A = randf(5 * 3, 1), B = randf(3 * 4, 2);
  std::vector<float> C(5 * 4);
  gemm(C.data(), A.data(), B.data(), nullptr, {5, 4, 3, false, false, false});
  const int64_t n = gemm_cached_primitives();
  for (int i = 0; i < 3; i++)
    gemm(C.data(), A.data(), B.data(), nullptr, {5, 4, 3, false, false, false});
  EXPECT_EQ(gemm_cached_primitives(), n);
}

// Central differences of loss(x) = sum(forward(x) * r) against the analytic gradient.
void check_grad(const char* what, std::vector<double>& x, const std::vector<double>& analytic,
                const std::function<double()>& loss, double tol = 1e-6) {
  ASSERT_EQ(x.size(), analytic.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); i++) {
    const double h = 1e-6, keep = x[i];
    x[i] = keep + h;
    const double lp = loss();
    x[i] = keep - h;
    const double lm = loss();
    x[i] = keep;
    const double fd = (lp - lm) / (2 * h);
    worst = std::max(worst, std::fabs(fd - analytic[i]) / std::max(1.0, std::fabs(fd)));
  }
  EXPECT_LT(worst, tol) << what << ": worst relative error " << worst;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

TEST(KernelGrad, Encoder) {
  const int B = 2, T = 3, C = 5, V = 7;
  std::vector<int32_t> inp = {1, 4, 1, 6, 0, 4};
  auto wte = randd(V * C, 1), wpe = randd(T * C, 2), r = randd(B * T * C, 3);
  std::vector<double> out(B * T * C), dwte(V * C, 0), dwpe(T * C, 0);
  auto loss = [&] {
    encoder_forward(out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    return dot(out, r);
  };
  encoder_backward(dwte.data(), dwpe.data(), r.data(), inp.data(), B, T, C);
  check_grad("dwte", wte, dwte, loss);
  check_grad("dwpe", wpe, dwpe, loss);
}

TEST(KernelGrad, LayerNorm) {
  const int N = 3, C = 7;
  auto x = randd(N * C, 1), w = randd(C, 2), b = randd(C, 3), r = randd(N * C, 4);
  std::vector<double> out(N * C), mean(N), rstd(N), dx(N * C, 0), dw(C, 0), db(C, 0);
  auto loss = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
    return dot(out, r);
  };
  loss();
  layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(),
                     rstd.data(), N, C);
  check_grad("dinp", x, dx, loss);
  check_grad("dweight", w, dw, loss);
  check_grad("dbias", b, db, loss);
}

TEST(KernelGrad, Attention) {
  const int B = 2, T = 5, C = 6, NH = 2;
  auto qkv = randd(B * T * 3 * C, 1), r = randd(B * T * C, 2);
  std::vector<double> out(B * T * C), att(B * NH * T * T), dqkv(B * T * 3 * C, 0);
  auto loss = [&] {
    attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
    return dot(out, r);
  };
  loss();
  attention_backward(dqkv.data(), r.data(), qkv.data(), att.data(), B, T, C, NH);
  check_grad("dqkv", qkv, dqkv, loss);
  // Causality: att is zero above the diagonal and rows sum to one.
  for (int t = 0; t < T; t++) {
    double s = 0;
    for (int t2 = 0; t2 < T; t2++) {
      if (t2 > t) EXPECT_EQ(att[t * T + t2], 0.0);
      s += att[t * T + t2];
    }
    EXPECT_NEAR(s, 1.0, 1e-12);
  }
}

// The register-blocked attention (kernels/attention.cpp) against the textbook loops: a dot product
// per pair, the softmax, the weighted sums; the backward by the chain rule written out. Heads 64
// wide (the compile-time width) and odd ones, sequences across several 16-key blocks.
void naive_attention(std::vector<double>& out, std::vector<double>& att, std::vector<double>& dqkv,
                     const std::vector<double>& qkv, const std::vector<double>& dout, int B, int T,
                     int C, int NH) {
  const int HS = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(double(HS));
  auto Q = [&](int b, int t, int h) { return &qkv[(b * T + t) * C3 + h * HS]; };
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        double* a = &att[((b * NH + h) * T + t) * T];
        double mx = -1e300, sum = 0;
        for (int u = 0; u < T; u++) {
          double d = 0;
          for (int i = 0; i < HS; i++) d += Q(b, t, h)[i] * Q(b, u, h)[C + i];
          a[u] = u <= t ? d * scale : 0;
          if (u <= t) mx = std::max(mx, a[u]);
        }
        for (int u = 0; u <= t; u++) sum += a[u] = std::exp(a[u] - mx);
        for (int u = 0; u <= t; u++) a[u] /= sum;
        for (int i = 0; i < HS; i++) {
          double o = 0;
          for (int u = 0; u <= t; u++) o += a[u] * Q(b, u, h)[2 * C + i];
          out[(b * T + t) * C + h * HS + i] = o;
        }
        const double* dy = &dout[(b * T + t) * C + h * HS];
        std::vector<double> da(T, 0.0);
        double s = 0;
        for (int u = 0; u <= t; u++) {
          for (int i = 0; i < HS; i++) {
            da[u] += dy[i] * Q(b, u, h)[2 * C + i];
            dqkv[(b * T + u) * C3 + 2 * C + h * HS + i] += a[u] * dy[i];
          }
          s += a[u] * da[u];
        }
        for (int u = 0; u <= t; u++) {
          const double ds = a[u] * (da[u] - s) * scale;
          for (int i = 0; i < HS; i++) {
            dqkv[(b * T + t) * C3 + h * HS + i] += ds * Q(b, u, h)[C + i];
            dqkv[(b * T + u) * C3 + C + h * HS + i] += ds * Q(b, t, h)[i];
          }
        }
      }
}

TEST(KernelGrad, AttentionEqualsTheTextbookLoops) {
  for (auto [B, T, C, NH] : {std::tuple{1, 37, 128, 2}, std::tuple{2, 16, 64, 1},
                             std::tuple{2, 19, 24, 3}, std::tuple{1, 1, 64, 1}}) {
    const int n = B * T * C;
    auto qkv = randd(3 * n, 3, -2, 2), dout = randd(n, 4);
    std::vector<double> out(n), att(B * NH * T * T), dqkv(3 * n, 0.5);
    std::vector<double> want_out(n), want_att(att.size()), want_dqkv(3 * n, 0.5);  // added to
    attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
    attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), B, T, C, NH);
    naive_attention(want_out, want_att, want_dqkv, qkv, dout, B, T, C, NH);
    auto worst = [](const std::vector<double>& x, const std::vector<double>& y) {
      double w = 0;
      for (size_t i = 0; i < x.size(); i++) w = std::max(w, std::fabs(x[i] - y[i]));
      return w;
    };
    const std::string at = "B" + std::to_string(B) + " T" + std::to_string(T) + " C" +
                           std::to_string(C) + " NH" + std::to_string(NH);
    EXPECT_LT(worst(out, want_out), 1e-12) << at;
    EXPECT_LT(worst(att, want_att), 1e-12) << at;
    EXPECT_LT(worst(dqkv, want_dqkv), 1e-12) << at;
  }
  EXPECT_THROW(attention_forward<float>(nullptr, nullptr, nullptr, 1, 1, 2048, 1), Error);
}

TEST(KernelGrad, Gelu) {
  const int N = 11;
  auto x = randd(N, 1, -4, 4), r = randd(N, 2);
  std::vector<double> out(N), dx(N, 0);
  auto loss = [&] {
    gelu_forward(out.data(), x.data(), N);
    return dot(out, r);
  };
  gelu_backward(dx.data(), x.data(), r.data(), N);
  check_grad("dinp", x, dx, loss);
}

TEST(KernelGrad, ResidualAndBias) {
  const int N = 4, OC = 3;
  auto a = randd(N * OC, 1), b = randd(N * OC, 2), r = randd(N * OC, 3);
  std::vector<double> out(N * OC), da(N * OC, 0), db(N * OC, 0), dbias(OC, 0);
  auto loss = [&] {
    residual_forward(out.data(), a.data(), b.data(), N * OC);
    return dot(out, r);
  };
  residual_backward(da.data(), db.data(), r.data(), N * OC);
  check_grad("da", a, da, loss);
  check_grad("db", b, db, loss);
  // bias: out = x + bias broadcast over rows
  auto bias = randd(OC, 4);
  auto loss_bias = [&] {
    double s = 0;
    for (int i = 0; i < N; i++)
      for (int o = 0; o < OC; o++) s += (a[i * OC + o] + bias[o]) * r[i * OC + o];
    return s;
  };
  bias_backward(dbias.data(), r.data(), N, OC);
  check_grad("dbias", bias, dbias, loss_bias);
}

TEST(KernelGrad, CrossEntropyIgnoresMinus100) {
  const int N = 5, V = 9;
  std::vector<int32_t> targets = {3, -100, 0, 8, -100};
  auto logits = randd(N * V, 1, -3, 3);
  int64_t counted = 0;
  auto loss = [&] { return crossentropy_forward(logits.data(), targets.data(), N, V, &counted); };
  const double l0 = loss();
  EXPECT_EQ(counted, 3);
  std::vector<double> g = logits;
  const double l1 = crossentropy_forward_backward(g.data(), targets.data(), N, V, &counted);
  EXPECT_NEAR(l0, l1, 1e-12);
  check_grad("dlogits", logits, g, loss);
  for (int v = 0; v < V; v++) EXPECT_EQ(g[1 * V + v], 0.0);

  // A batch where nothing counts: loss 0, zero gradient, no NaN.
  std::vector<int32_t> none(N, -100);
  std::vector<double> h = logits;
  EXPECT_EQ(crossentropy_forward_backward(h.data(), none.data(), N, V, &counted), 0.0);
  EXPECT_EQ(counted, 0);
  for (double x : h) EXPECT_EQ(x, 0.0);
}

TEST(KernelGrad, LabelLogProbabilitiesWithPerRowWeights) {
  const int N = 4, V = 7;
  std::vector<int32_t> labels = {3, 0, 6, 2};
  const std::vector<double> w = {0.5, -1.25, 2.0, 0.0};  // d(loss)/d(logprob) per row
  auto logits = randd(N * V, 2, -3, 3);
  std::vector<double> lp(N);
  auto loss = [&] {  // sum_i w_i * logprob_i
    logprob_rows(lp.data(), logits.data(), labels.data(), N, V);
    double s = 0;
    for (int i = 0; i < N; i++) s += w[i] * lp[i];
    return s;
  };
  loss();
  for (int i = 0; i < N; i++) {  // against log(softmax) written out
    double z = 0;
    for (int v = 0; v < V; v++) z += std::exp(logits[i * V + v]);
    EXPECT_NEAR(lp[i], logits[i * V + labels[i]] - std::log(z), 1e-12);
  }
  std::vector<double> g = logits;
  logprob_rows_backward(g.data(), labels.data(), w.data(), N, V);
  check_grad("dlogits", logits, g, loss);
  for (int v = 0; v < V; v++) EXPECT_EQ(g[3 * V + v], 0.0);  // weight 0: no gradient
}

TEST(AdamW, MatchesTorchFormula) {
  // Two steps of torch.optim.AdamW on three numbers, written out in double.
  std::vector<float> p = {0.5f, -1.0f, 2.0f}, m(3, 0), v(3, 0);
  const std::vector<float> g1 = {0.1f, -0.2f, 0.3f}, g2 = {-0.05f, 0.4f, 0.0f};
  AdamWHyper h;
  h.lr = 1e-2;
  std::vector<double> pd(p.begin(), p.end()), md(3, 0), vd(3, 0);
  for (int step = 1; step <= 2; step++) {
    const auto& g = step == 1 ? g1 : g2;
    adamw_update(p.data(), g.data(), m.data(), v.data(), 3, h, h.weight_decay, step);
    for (int i = 0; i < 3; i++) {
      pd[i] *= 1 - h.lr * h.weight_decay;
      md[i] = 0.9 * md[i] + 0.1 * g[i];
      vd[i] = 0.999 * vd[i] + 0.001 * g[i] * g[i];
      const double mhat_lr = h.lr / (1 - std::pow(0.9, step));
      const double denom = std::sqrt(vd[i]) / std::sqrt(1 - std::pow(0.999, step)) + 1e-8;
      pd[i] -= mhat_lr * md[i] / denom;
    }
  }
  for (int i = 0; i < 3; i++) EXPECT_NEAR(p[i], pd[i], 1e-6) << i;
}

}  // namespace
}  // namespace instruct

namespace instruct {
namespace {

// The machine probe agrees with the CPU's flags: oneDNN 2.6 runs bf16 matmuls where AVX-512 is,
// and a bf16 request on any other CPU is refused in one line naming the CPU.
TEST(Gemm, Bf16IsAvailableExactlyWhereTheCpuHasAvx512) {
  const GemmMachine& m = gemm_machine();
  EXPECT_FALSE(m.cpu.empty());
  EXPECT_FALSE(m.fp32_impl.empty());
  EXPECT_EQ(m.bf16, cpu_has_flag("avx512f")) << gemm_machine_line();
  if (m.bf16) {
    EXPECT_NO_THROW(gemm_require_bf16("--dtype bf16"));
  } else {
    try {
      gemm_require_bf16("--dtype bf16");
      ADD_FAILURE() << "bf16 accepted on " << gemm_machine_line();
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("--dtype bf16: this CPU (" + m.cpu), std::string::npos) << msg;
      EXPECT_NE(msg.find("use fp32"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

TEST(Gemm, Bf16OperandsWithFp32AccumulationMatchTheNaiveLoop) {
  if (!gemm_machine().bf16) GTEST_SKIP() << "no bf16 matmul on " << gemm_machine_line();
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (auto [M, N, K, tb] : {std::tuple{1, 65, 63, false}, {7, 33, 64, true}, {65, 7, 1, false}}) {
    std::vector<float> A(M * K), B(K * N), bias(N), C(M * N), R(M * N);
    for (auto* v : {&A, &B, &bias})
      for (float& x : *v) x = nd(rng);
    std::vector<uint16_t> A16(A.size()), B16(B.size());
    to_bf16(A16.data(), A.data(), A.size());
    to_bf16(B16.data(), B.data(), B.size());
    for (size_t i = 0; i < A.size(); i++)
      A[i] = from_bf16(A16[i]);  // the reference sees the rounded operands
    for (size_t i = 0; i < B.size(); i++) B[i] = from_bf16(B16[i]);
    const GemmArgs g{M, N, K, false, tb, false};
    gemm_bf16(C.data(), A16.data(), B16.data(), bias.data(), g);
    gemm_naive(R.data(), A.data(), B.data(), bias.data(), g);
    for (int i = 0; i < M * N; i++)
      ASSERT_NEAR(C[i], R[i], 1e-4 * (1 + std::fabs(R[i]))) << M << "x" << N << "x" << K;
  }
  // Round to nearest even, as torch: 1 + 2^-8 is a tie and goes to 1; 1 + 3*2^-9 rounds up.
  const float xs[] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 512, -2.5f};
  uint16_t r[3];
  to_bf16(r, xs, 3);
  EXPECT_EQ(from_bf16(r[0]), 1.0f);
  EXPECT_EQ(from_bf16(r[1]), 1.0f + 1.0f / 128);
  EXPECT_EQ(from_bf16(r[2]), -2.5f);
}

// A weight packed once (oneDNN's blocked layout, straight from fp32) gives the products of its bf16
// rounding, for any row count (decoding's 1, odd prefill lengths), both stored layouts, bias and
// accumulation; repacking after the master changes follows it. Where the CPU has no bf16 matmul the
// same test runs the emulation (a plain bf16 copy), so the fallback is tested there.
TEST(Gemm, PackedBf16WeightsMatchTheNaiveLoopOnOddSizes) {
  const bool emulate = !gemm_machine().bf16;
  gemm_emulate_bf16(emulate);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  for (auto [M, N, K, trans] : {std::tuple{1, 65, 63, false},
                                {3, 33, 64, true},
                                {17, 7, 1, false},
                                {1, 130, 97, true},
                                {70, 64, 32, false}}) {
    std::vector<float> A(M * K), W(K * N), bias(N), C(M * N), R(M * N);
    for (auto* v : {&A, &W, &bias})
      for (float& x : *v) x = nd(rng);
    PackedWeight pw;
    for (int round = 0; round < 2; round++) {
      if (round == 1)
        for (float& w : W) w = nd(rng);  // the master changed: packed again into the same buffer
      pw.pack(W.data(), K, N, trans);
      std::vector<uint16_t> A16(A.size()), W16(W.size());
      to_bf16(A16.data(), A.data(), A.size());
      to_bf16(W16.data(), W.data(), W.size());
      std::vector<float> Ar(A.size()), Wr(W.size());
      for (size_t i = 0; i < A.size(); i++) Ar[i] = from_bf16(A16[i]);
      for (size_t i = 0; i < W.size(); i++) Wr[i] = from_bf16(W16[i]);
      for (bool acc : {false, true}) {
        GemmArgs g{M, N, K, false, trans, acc};
        for (int i = 0; i < M * N; i++) C[i] = R[i] = 0.5f * i;
        gemm_bf16_packed(C.data(), A16.data(), pw, acc ? nullptr : bias.data(), g);
        gemm_naive(R.data(), Ar.data(), Wr.data(), acc ? nullptr : bias.data(), g);
        for (int i = 0; i < M * N; i++)
          ASSERT_NEAR(C[i], R[i], 1e-4 * (1 + std::fabs(R[i])))
              << M << "x" << N << "x" << K << (trans ? " W^T" : "") << (acc ? " +=" : "")
              << " round " << round << (emulate ? " (emulated)" : "");
      }
    }
    EXPECT_GE(pw.bytes(), int64_t{2} * K * N);
  }
  gemm_emulate_bf16(false);
}

}  // namespace
}  // namespace instruct

namespace instruct {
namespace {

// GCC 12 with AVX-512 turned these into broadcasts of their first element (CMakeLists.txt turns
// SLP vectorization off there). A value read at run time keeps the compiler from folding the sums.
TEST(Toolchain, ConstantInitializers) {
  volatile int n = 4;
  std::vector<double> a = {1, 1, 1, 0};
  std::vector<long> b = {1, 1, 1, 0};
  std::vector<double> c = {2, 2, 2, 5};
  double sa = 0, sc = 0;
  long sb = 0;
  for (int i = 0; i < n; i++) sa += a[i], sb += b[i], sc += c[i];
  EXPECT_EQ(sa, 3.0);
  EXPECT_EQ(sb, 3);
  EXPECT_EQ(sc, 11.0);
}

}  // namespace
}  // namespace instruct

namespace instruct {
namespace {

// fp16 as IEEE binary16 with round to nearest even: exact values, ties, subnormals, overflow.
TEST(Q8, Fp16Conversions) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f})
    EXPECT_EQ(fp16_to_float(fp16_from_float(f)), f) << f;
  EXPECT_EQ(fp16_from_float(1.0f + 1.0f / 2048), fp16_from_float(1.0f));  // a tie: to even
  EXPECT_EQ(fp16_from_float(1e6f), 0x7c00);                               // past 65504: inf
  EXPECT_TRUE(std::isnan(fp16_to_float(fp16_from_float(NAN))));
}

// llama.cpp's block: d = amax / 127 (as fp16), q = round(x * (1 / d)); a zero block stays zero.
TEST(Q8, QuantizeAsLlamaCpp) {
  std::vector<float> x(64);
  for (int i = 0; i < 32; i++) x[i] = (i - 13) * 0.37f;
  std::vector<BlockQ8> q(2);
  q8_quantize(q.data(), x.data(), 64);
  const float amax = 18 * 0.37f, d = amax / 127, id = 1.0f / d;
  EXPECT_EQ(q[0].d, fp16_from_float(d));
  for (int i = 0; i < 32; i++)
    EXPECT_EQ(q[0].qs[i], static_cast<int8_t>(std::round(x[i] * id))) << i;
  EXPECT_EQ(q[0].qs[31], 127);
  EXPECT_EQ(q[1].d, 0);
  for (int i = 0; i < 32; i++) EXPECT_EQ(q[1].qs[i], 0);
  std::vector<float> back(64);
  q8_dequantize(back.data(), q.data(), 64);
  for (int i = 0; i < 32; i++) {
    EXPECT_EQ(back[i], fp16_to_float(q[0].d) * q[0].qs[i]) << i;
    EXPECT_NEAR(back[i], x[i], 0.01 * amax) << i;
  }
  EXPECT_THROW(q8_quantize(q.data(), x.data(), 33), Error);
  // Halves round away from zero (roundf), as llama.cpp's reference: amax 127 gives d = id = 1.
  std::vector<float> h = {127, 0.5f, -0.5f, 2.5f, -2.5f, 126.5f, -126.5f, 1.4999999f, -0.49999997f};
  h.resize(32, 0.0f);
  q8_quantize(q.data(), h.data(), 32);
  const int8_t want[] = {127, 1, -1, 3, -3, 127, -127, 1, 0};
  for (int i = 0; i < 9; i++) EXPECT_EQ(q[0].qs[i], want[i]) << h[i];
  // The SIMD quantization equals the scalar reference byte for byte: random scales, exact halves,
  // zero blocks, subnormal and huge values.
  {
    std::mt19937 g(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> x(32 * 64);
    for (size_t b = 0; b < 64; b++) {
      const float scale = b % 8 == 0   ? 0.0f
                          : b % 8 == 1 ? 1e-40f
                          : b % 8 == 2 ? 1e30f
                                       : std::ldexp(1.0f, int(b) - 30);
      for (size_t j = 0; j < 32; j++) x[b * 32 + j] = u(g) * scale;
      if (b % 8 == 3)  // amax 127: x * id lands on halves
        for (size_t j = 0; j < 32; j++) x[b * 32 + j] = j == 0 ? 127.0f : float(int(j) - 16) + 0.5f;
    }
    std::vector<BlockQ8> a(64), b(64);
    q8_quantize(a.data(), x.data(), 32 * 64);
    q8_quantize_scalar(b.data(), x.data(), 32 * 64);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), 64 * sizeof(BlockQ8)), 0);
    for (size_t k = 0; k < 64; k++) {
      EXPECT_EQ(a[k].d, b[k].d) << k;
      for (int j = 0; j < 32; j++) ASSERT_EQ(a[k].qs[j], b[k].qs[j]) << k << " " << j;
    }
  }
  // And random blocks, value by value against std::round.
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> r(32 * 257);
  for (float& v : r) v = nd(rng);
  std::vector<BlockQ8> rq(257);
  q8_quantize(rq.data(), r.data(), static_cast<int64_t>(r.size()));
  for (size_t b = 0; b < rq.size(); b++) {
    float am = 0;
    for (int j = 0; j < 32; j++) am = std::max(am, std::fabs(r[b * 32 + j]));
    const float inv = 1.0f / (am / 127.0f);
    for (int j = 0; j < 32; j++)
      ASSERT_EQ(rq[b].qs[j], static_cast<int8_t>(std::round(r[b * 32 + j] * inv))) << b << " " << j;
  }
}

// Every int8 kernel this build has against a double-precision loop over the same quantized
// values: odd row counts, M = 1 (decoding) and more (prefill), bias or none.
TEST(Q8, EveryKernelMatchesTheReference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 32},
                         {1, 65, 96},
                         {3, 33, 768},
                         {17, 129, 256},
                         // several rows: the 512-bit tiles, with odd block counts (a half pair)
                         // and partial tiles of activation and weight rows
                         {2, 5, 96},
                         {6, 10, 32},
                         {5, 7, 160},
                         {9, 18, 3072}}) {
    std::vector<float> x(M * K), w(N * K), bias(N), y(M * N);
    for (auto& v : x) v = nd(rng);
    for (auto& v : w) v = 0.05f * nd(rng);
    for (auto& v : bias) v = nd(rng);
    std::vector<BlockQ8> wq(N * K / 32), xq(M * K / 32);
    q8_quantize(wq.data(), w.data(), N * K);
    q8_quantize(xq.data(), x.data(), M * K);
    for (Q8Kernel k : q8_kernels())
      for (bool with_bias : {false, true}) {
        gemm_q8_0_with(k, y.data(), x.data(), wq.data(), with_bias ? bias.data() : nullptr, M, N,
                       K);
        for (int64_t m = 0; m < M; m++)
          for (int64_t n = 0; n < N; n++) {
            double want = with_bias ? bias[n] : 0, scale = std::abs(want);
            for (int64_t b = 0; b < K / 32; b++) {
              const BlockQ8 &a = xq[m * K / 32 + b], &c = wq[n * K / 32 + b];
              int64_t s = 0;
              for (int j = 0; j < 32; j++) s += int64_t{a.qs[j]} * c.qs[j];
              const double term = static_cast<double>(s) * fp16_to_float(a.d) * fp16_to_float(c.d);
              want += term, scale += std::abs(term);
            }
            ASSERT_NEAR(y[m * N + n], want, 1e-5 * (scale + 1))
                << q8_kernel_name(k) << " M=" << M << " N=" << N << " K=" << K << " at " << m << ","
                << n;
          }
      }
  }
  // And close to the fp32 product: 8-bit weights and activations (a dot of 256 unit normals is
  // about 16 in size; the error a few percent of that).
  std::vector<float> x(2 * 256), w(64 * 256), y(2 * 64);
  for (auto& v : x) v = nd(rng);
  for (auto& v : w) v = nd(rng);
  std::vector<BlockQ8> wq(64 * 256 / 32);
  q8_quantize(wq.data(), w.data(), w.size());
  gemm_q8_0(y.data(), x.data(), wq.data(), nullptr, 2, 64, 256);
  for (int m = 0; m < 2; m++)
    for (int n = 0; n < 64; n++) {
      double exact = 0;
      for (int k = 0; k < 256; k++) exact += double{x[m * 256 + k]} * w[n * 256 + k];
      EXPECT_NEAR(y[m * 64 + n], exact, 0.05 * 16) << m << "," << n;
    }
}

}  // namespace
}  // namespace instruct
