// Vector math for the kernels' loops: glibc's libmvec has SIMD tanhf and expf (AVX-512:
// _ZGVeN16v_tanhf, _ZGVeN16v_expf); declaring them SIMD functions lets `omp simd` loops call them
// 16 lanes at a time instead of the scalar libm routines (the GELU, the softmax over the
// vocabulary, attention's softmax).
#pragma once

#include <cmath>
#include <type_traits>

extern "C" float tanhf(float) noexcept __attribute__((simd("notinbranch")));
extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));

namespace instruct {

template <typename F>
inline F exp_of(F x) {
  if constexpr (std::is_same_v<F, float>)
    return expf(x);
  else
    return std::exp(x);
}

}  // namespace instruct
