// LoRA against PyTorch (the book's LoRALayer/LinearWithLoRA; tests/oracle/lora_oracle.py): for
// split and fused q/k/v, loads the oracle's PEFT adapter onto its base as --lora-init does, and
// compares the book's init draws (seed 123), the trainable count, the loss, every adapter gradient
// (in the file's layout) and 5 AdamW steps; the base stays bit-identical. Prints the worst error
// per tensor; exits 1 on any failure. Usage: oracle_lora ORACLE_DIR
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "oracle_util.hpp"
#include "train/optimizer.hpp"

using namespace instruct;

using namespace instruct::oracle;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: oracle_lora ORACLE_DIR (made by tests/oracle/lora_oracle.py)\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    SafeTensorsFile ref(dir + "/lora_oracle.safetensors");
    const SafeTensor& shape = ref.at("inputs");
    const int B = static_cast<int>(shape.shape[0]), T = static_cast<int>(shape.shape[1]);
    std::vector<int32_t> inputs, targets;
    inputs = read_ids(ref, "inputs"), targets = read_ids(ref, "targets");
    AdamWHyper h;
    h.lr = std::stod(ref.metadata().at("lr"));
    h.weight_decay = std::stod(ref.metadata().at("weight_decay"));

    for (const std::string mode : {"split", "fused"}) {
      std::printf("-- %s q/k/v\n", mode.c_str());
      GPT2 m = checkpoint_load(dir + "/model");
      const std::vector<float> base(m.w.params.data(), m.w.params.data() + m.w.size());
      LoraAdapter a = adapter_load(dir + "/adapter_" + mode, m.cfg);
      if (a.cfg.split_qkv != (mode == "split")) {
        std::printf("FAIL the adapter reads as %s\n", a.cfg.split_qkv ? "split" : "fused");
        failures++;
      }
      const std::vector<float> trainable{static_cast<float>(param_count(a.w.table))};
      compare("count", "trainable parameters", trainable, read(ref, mode + ".trainable"), 0, false);

      // The book's init, drawn from torch.manual_seed(123): equal to the bit.
      LoraAdapter init = lora_create(m.cfg, a.cfg);
      lora_init(init, std::stoull(ref.metadata().at("seed")));
      for (const ParamSpec& s : init.w.table)
        if (s.name.find("lora_A") != std::string::npos)
          compare("init", s.file_name, adapter_file_tensor(init, s),
                  read(ref, mode + ".init." + s.file_name), 0, false);

      GPT2Step st;
      gpt2_zero_grad(m, &a);
      const float loss = static_cast<float>(
          gpt2_loss({m, &a}, st, inputs.data(), targets.data(), B, T, true).loss);
      compare("loss", "loss", &loss, read(ref, mode + ".loss"), 1e-4, false);
      gpt2_backward(m, st);
      if (m.w.has_grads()) {
        std::printf("FAIL the frozen base got gradients\n");
        failures++;
      }
      for (const ParamSpec& s : a.w.table)
        compare("grad", s.file_name, adapter_file_tensor(a, s, true),
                read(ref, mode + ".grad." + s.file_name), 1e-3, true);

      // 5 AdamW steps from the file's adapter (what `train --lora-init` does).
      GPT2 m2 = checkpoint_load(dir + "/model");
      LoraAdapter a2 = adapter_load(dir + "/adapter_" + mode, m2.cfg);
      AdamW opt = adamw_create(gpt2_trainable(m2, &a2), h);
      std::vector<float> got;
      for (int step = 0; step < std::stoi(ref.metadata().at("steps")); step++) {
        gpt2_zero_grad(m2, &a2);
        got.push_back(static_cast<float>(
            gpt2_loss({m2, &a2}, st, inputs.data(), targets.data(), B, T, true).loss));
        gpt2_backward(m2, st);
        adamw_step(opt, gpt2_trainable(m2, &a2));
      }
      const std::vector<float> want = read(ref, mode + ".adamw_losses");
      compare("adamw", "losses of 5 steps", got, want, 1e-4, false);
      for (size_t i = 0; i < got.size(); i++)
        std::printf("     step %zu: loss %.6f (torch %.6f)\n", i, got[i], want[i]);
      const bool same =
          std::memcmp(base.data(), m2.w.params.data(), base.size() * sizeof(float)) == 0;
      std::printf("%-4s base     weights bit-identical after training\n", same ? "ok" : "FAIL");
      failures += !same;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return finish();
}
