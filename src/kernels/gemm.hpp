// The one GEMM seam: every matmul in the engine goes through gemm(), on oneDNN: fp32, and bf16
// operands with fp32 accumulation and output (inference). Knows nothing of GPT-2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace instruct {

// Row-major, packed: C[M,N] = op(A)[M,K] @ op(B)[K,N] (+ bias[N]) (+ C when accumulate).
// op(A) = A^T when trans_a (A stored [K,M]); op(B) = B^T when trans_b (B stored [N,K]).
// Leading dimensions (0: packed) let an operand be a column block of a wider matrix: the distance
// between consecutive stored rows, in elements (a LoRA piece inside the fused q|k|v columns).
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  bool accumulate = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t lda_or_packed() const { return lda ? lda : trans_a ? M : K; }
  int64_t ldb_or_packed() const { return ldb ? ldb : trans_b ? K : N; }
  int64_t ldc_or_packed() const { return ldc ? ldc : N; }
};

void gemm(float* C, const float* A, const float* B, const float* bias, const GemmArgs& g);
// The same with A and B in bfloat16 (raw 16-bit words), fp32 bias, fp32 C.
void gemm_bf16(float* C, const uint16_t* A, const uint16_t* B, const float* bias,
               const GemmArgs& g);
// A weight in bf16, laid out once for its role as op(W) in C = A @ op(W): oneDNN's blocked layout
// for bf16 matmuls, made from the fp32 master by one reorder (rounding to nearest even and blocking
// in one pass). A bf16 matmul on plain weights re-blocks them inside every call: 10-20% of a
// training GEMM, and 4x a decoding step's (one row against the whole matrix). Under the test
// emulation of bf16 (gemm_emulate_bf16) it holds a plain bf16 copy.
class PackedWeight {
 public:
  PackedWeight();
  ~PackedWeight();
  PackedWeight(PackedWeight&&) noexcept;
  PackedWeight& operator=(PackedWeight&&) noexcept;
  // (Re)makes it from W: [K,N] row-major, or [N,K] when `trans` (op(W) = W^T). The same shape again
  // reuses the buffer (once per optimizer step).
  void pack(const float* W, int64_t K, int64_t N, bool trans);
  bool empty() const { return impl_ == nullptr; }
  int64_t bytes() const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};
// C[M,N] = A[M,K] (bf16) @ op(W) (+ bias) (+ C when g.accumulate), fp32 accumulation and output.
// g.K and g.N must be W's; g.trans_b and g.ldb are ignored (W's layout is its own).
void gemm_bf16_packed(float* C, const uint16_t* A, const PackedWeight& W, const float* bias,
                      const GemmArgs& g);

// Round to nearest even, as torch's .to(torch.bfloat16).
void to_bf16(uint16_t* dst, const float* src, int64_t n);
// The same in place: x's n floats become n bf16 words at its start (returned); no second buffer
// (the LM head's dlogits: 46 MB for gpt2-small at 456 rows).
uint16_t* to_bf16_in_place(float* x, int64_t n);
float from_bf16(uint16_t v);

// The scalar reference (double accumulation), for tests.
void gemm_naive(float* C, const float* A, const float* B, const float* bias, const GemmArgs& g);

// Time and work spent in gemm() since the start (for benchmarks and logs).
struct GemmStats {
  int64_t calls = 0;
  double seconds = 0, flops = 0;
};
GemmStats gemm_stats();
// The same per shape (one entry per cached primitive): what a step's GEMMs are, and their rate.
struct GemmShapeStats {
  GemmArgs g;
  bool bf16 = false, bias = false, packed = false;  // packed: B is a PackedWeight
  int64_t calls = 0;
  double seconds = 0;
};
std::vector<GemmShapeStats> gemm_shape_stats();

// The machine as the GEMM seam sees it, probed once: the CPU, the ISA oneDNN dispatches to, the
// kernels it picks for a typical step shape, and whether bf16 matmuls run here at all (oneDNN 2.6
// needs AVX-512 for them: not on AVX2-only CPUs such as AMD Zen 3).
struct GemmMachine {
  std::string cpu;       // "AMD EPYC 9B14"
  std::string features;  // "AVX-512, AVX512-BF16, no AMX"
  std::string isa;       // oneDNN's effective ISA: "avx512_core_amx"
  std::string fp32_impl,
      bf16_impl;  // "brg:avx512_core", "brg:avx512_core_amx_bf16"; bf16_impl "" if none
  bool bf16 = false;
};
const GemmMachine& gemm_machine();
// One line for logs: "CPU       AMD EPYC 9B14 · AVX-512, AVX512-BF16, no AMX · oneDNN
// avx512_core_bf16 (fp32 brg:avx512_core, bf16 brg:avx512_core_bf16)".
std::string gemm_machine_line();
// Fails with a one-line message naming the CPU and the way out when bf16 GEMMs cannot run here.
// `what` names the flag that asked for them ("--dtype bf16").
void gemm_require_bf16(const std::string& what);
// For tests on CPUs without bf16 matmuls: gemm_bf16 widens its bf16 operands to fp32 and runs the
// fp32 GEMM (the same products, fp32 accumulation; slow). Never on in the tool itself.
void gemm_emulate_bf16(bool on);

// Primitives created so far (they are cached by shape; tests check reuse).
int64_t gemm_cached_primitives();

}  // namespace instruct
