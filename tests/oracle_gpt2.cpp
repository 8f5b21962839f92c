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
#include "oracle_util.hpp"
#include "train/optimizer.hpp"

using namespace instruct;

using namespace instruct::oracle;

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
    inputs = read_ids(ref, "inputs"), targets = read_ids(ref, "targets");

    GPT2Step st;
    compare("logits", "logits", gpt2_logits(m, st, inputs.data(), B, T), read(ref, "logits"), 1e-4,
            false);

    gpt2_zero_grad(m);
    const float loss =
        static_cast<float>(gpt2_loss(m, st, inputs.data(), targets.data(), B, T, true).loss);
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
      got.push_back(
          static_cast<float>(gpt2_loss(m2, st, inputs.data(), targets.data(), B, T, true).loss));
      gpt2_backward(m2, st);
      adamw_step(opt, m2.w);
    }
    compare("adamw", "losses of 5 steps", got.data(), want, 1e-4, false);
    for (size_t i = 0; i < got.size(); i++)
      std::printf("     step %zu: loss %.6f (torch %.6f)\n", i, got[i], want[i]);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return finish();
}
