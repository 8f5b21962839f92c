// Shared by the oracle programs (oracle_gpt2, oracle_lora, oracle_dpo): read a dumped tensor,
// compare one against PyTorch's printing the worst error, and count the failures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "io/safetensors.hpp"

namespace instruct::oracle {

inline int failures = 0;

inline std::vector<float> read(const SafeTensorsFile& f, const std::string& name) {
  const SafeTensor& t = f.at(name);
  std::vector<float> v(t.numel());
  f.read_f32(name, t.shape, v.data());
  return v;
}

// Integer tensors dumped as floats (token ids).
inline std::vector<int32_t> read_ids(const SafeTensorsFile& f, const std::string& name) {
  std::vector<int32_t> v;
  for (float x : read(f, name)) v.push_back(static_cast<int32_t>(x));
  return v;
}

// Worst |got - want| (or that over max|want| when relative) against a tolerance; prints one line
// ("ok"/"FAIL", what, name, the error) and counts a failure.
inline void compare(const char* what, const std::string& name, std::span<const float> got,
                    const std::vector<float>& want, double tol, bool relative) {
  double worst = 0, scale = 0;
  for (float w : want) scale = std::max(scale, std::fabs(double(w)));
  for (size_t i = 0; i < want.size() && i < got.size(); i++)
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
  const double err = got.size() != want.size() ? INFINITY
                     : relative                ? worst / std::max(scale, 1e-12)
                                               : worst;
  const bool ok = err <= tol && std::isfinite(err);
  failures += !ok;
  std::printf("%-4s %-8s %-58s %s %.3e (tol %.0e)\n", ok ? "ok" : "FAIL", what, name.c_str(),
              relative ? "rel" : "abs", err, tol);
}

// The same for a tensor given by its first element (as long as `want`).
inline void compare(const char* what, const std::string& name, const float* got,
                    const std::vector<float>& want, double tol, bool relative) {
  compare(what, name, std::span<const float>(got, want.size()), want, tol, relative);
}

// The verdict line and exit status.
inline int finish() {
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}

}  // namespace instruct::oracle
