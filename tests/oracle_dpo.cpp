// DPO against PyTorch (the book's custom_collate_fn, compute_logprobs, compute_dpo_loss;
// tests/oracle/dpo_oracle.py): policy and frozen reference from one model, batches in order,
// 5 AdamW steps; compares each step's loss and its chosen and rejected rewards (before the
// update), and checks the first loss is ln 2. Exits 1 on any failure. Usage: oracle_dpo ORACLE_DIR
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "oracle_util.hpp"
#include "train/preference.hpp"
#include "train/trainer.hpp"

using namespace instruct;

using namespace instruct::oracle;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: oracle_dpo ORACLE_DIR (made by tests/oracle/dpo_oracle.py)\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    SafeTensorsFile ref(dir + "/dpo_oracle.safetensors");
    const auto& meta = ref.metadata();
    std::vector<PrefExample> ex(std::stoi(meta.at("examples")));
    for (size_t i = 0; i < ex.size(); i++) {
      const std::string k = "ex." + std::to_string(i) + ".";
      ex[i].prompt = read_ids(ref, k + "prompt"), ex[i].chosen = read_ids(ref, k + "chosen");
      ex[i].rejected = read_ids(ref, k + "rejected");
      ex[i].entry = static_cast<int32_t>(i);
    }
    GPT2 policy = checkpoint_load(dir + "/model");
    const GPT2 reference = checkpoint_load(dir + "/model");
    PrefOptions po;
    po.params.beta = std::stod(meta.at("beta"));
    LoraAdapter none;
    PreferenceObjective obj(policy, none, &reference, std::nullopt, po, ex, {});
    TrainerOptions o;
    o.adam.lr = std::stod(meta.at("lr"));
    o.adam.weight_decay = std::stod(meta.at("weight_decay"));
    o.schedule.peak = o.adam.lr;
    Trainer t(policy, none, obj, o);
    const int B = std::stoi(meta.at("batch")), steps = std::stoi(meta.at("steps"));
    const auto want_loss = read(ref, "losses"), want_c = read(ref, "chosen_rewards"),
               want_r = read(ref, "rejected_rewards");
    double worst_loss = 0, worst_reward = 0;
    for (int s = 0; s < steps; s++) {
      std::vector<std::vector<int32_t>> batch(1);
      for (int k = 0; k < B; k++) batch[0].push_back(s * B + k);
      const StepResult r = t.step(batch, s);
      const double rc = metric(r.extra, "reward_chosen"), rr = metric(r.extra, "reward_rejected");
      std::printf("     step %d: loss %.6f (torch %.6f), rewards %.6f / %.6f (torch %.6f / %.6f)\n",
                  s, r.loss, want_loss[s], rc, rr, want_c[s], want_r[s]);
      worst_loss = std::max(worst_loss, std::fabs(r.loss - want_loss[s]));
      worst_reward = std::max({worst_reward, std::fabs(rc - want_c[s]), std::fabs(rr - want_r[s])});
      if (s == 0 && std::fabs(r.loss - std::log(2.0)) > 1e-6) {
        std::printf("FAIL first loss %.8f is not ln 2\n", r.loss);
        failures++;
      }
    }
    for (auto [what, err] : {std::pair{"losses", worst_loss}, std::pair{"rewards", worst_reward}}) {
      const bool ok = err <= 1e-4;
      failures += !ok;
      std::printf("%-4s %-8s abs %.3e (tol 1e-04)\n", ok ? "ok" : "FAIL", what, err);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return finish();
}
