// End-to-end check against PyTorch (llm.c test_gpt2, but it fails when it should): loads the
// oracle's HF checkpoint and dumps, and compares logits, loss, every gradient and 5 AdamW losses.
// Prints the worst error per tensor; exits 1 on any failure. Usage: oracle_gpt2 ORACLE_DIR
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "train/optimizer.hpp"

using namespace instruct;

namespace {

int failures = 0;

std::vector<float> read(const SafeTensorsFile& f, const std::string& name) {
  const SafeTensor& t = f.at(name);
  std::vector<float> v(t.numel());
  f.read_f32(name, t.shape, v.data());
  return v;
}

// Worst |a-b| and worst |a-b| / max|b| over a tensor.
void compare(const char* what, const std::string& name, const float* got, const std::vector<float>& want,
             double tol, bool relative) {
  double worst = 0, scale = 0;
  for (float w : want) scale = std::max(scale, std::fabs(double(w)));
  for (size_t i = 0; i < want.size(); i++) worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
  const double err = relative ? worst / std::max(scale, 1e-12) : worst;
  const bool ok = err <= tol && std::isfinite(err);
  failures += !ok;
  std::printf("%-4s %-8s %-32s %s %.3e (tol %.0e)\n", ok ? "ok" : "FAIL", what, name.c_str(),
              relative ? "rel" : "abs", err, tol);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: oracle_gpt2 ORACLE_DIR (made by tests/oracle/gpt2_oracle.py)\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    SafeTensorsFile ref(dir + "/oracle.safetensors");
    GPT2 m = checkpoint_load(dir + "/model");
    const SafeTensor& shape = ref.at("inputs");
    const int B = static_cast<int>(shape.shape[0]), T = static_cast<int>(shape.shape[1]);
    std::vector<int32_t> inputs, targets;
    for (float x : read(ref, "inputs")) inputs.push_back(static_cast<int32_t>(x));
    for (float x : read(ref, "targets")) targets.push_back(static_cast<int32_t>(x));

    GPT2Step st;
    compare("logits", "logits", gpt2_logits(m, st, inputs.data(), B, T), read(ref, "logits"), 1e-4, false);

    gpt2_zero_grad(m);
    const float loss = static_cast<float>(gpt2_loss(m, st, inputs.data(), targets.data(), B, T, true).loss);
    compare("loss", "loss", &loss, read(ref, "loss"), 1e-4, false);
    gpt2_backward(m, st);
    for (const ParamSpec& s : m.w.table)
      compare("grad", s.name, m.w.grads.data() + s.offset, read(ref, "grad." + s.name), 1e-3, true);

    // 5 AdamW steps from the same start.
    GPT2 m2 = checkpoint_load(dir + "/model");
    AdamWHyper h;
    h.lr = std::stod(ref.metadata().at("lr"));
    h.weight_decay = std::stod(ref.metadata().at("weight_decay"));
    AdamW opt = adamw_create(m2.w, h);
    const std::vector<float> want = read(ref, "adamw_losses");
    std::vector<float> got;
    for (size_t step = 0; step < want.size(); step++) {
      gpt2_zero_grad(m2);
      got.push_back(static_cast<float>(gpt2_loss(m2, st, inputs.data(), targets.data(), B, T, true).loss));
      gpt2_backward(m2, st);
      adamw_step(opt, m2.w);
    }
    compare("adamw", "losses of 5 steps", got.data(), want, 1e-4, false);
    for (size_t i = 0; i < got.size(); i++) std::printf("     step %zu: loss %.6f (torch %.6f)\n", i, got[i], want[i]);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
