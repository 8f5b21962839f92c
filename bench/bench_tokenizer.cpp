// Tokenizer throughput on one thread: MB/s of the bundled data's formatted texts, cold (empty
// pretoken cache) and warm. Prints numbers only; tests never assert on timing.
#include <chrono>
#include <cstdio>
#include <string>

#include "data/dataset.hpp"
#include "data/prompt_template.hpp"
#include "kernels/gemm.hpp"
#include "text/bpe.hpp"

using namespace instruct;

int main(int argc, char** argv) {
  std::printf("cpu       %s\n", instruct::gemm_machine_line().c_str());
  const std::string dir = argc > 1 ? argv[1] : INSTRUCT_REPO_DATA;
  Bpe bpe = bpe_load_dir(dir);
  const Dataset d = dataset_load(dir + "/instruction-data.json");
  const PromptTemplate& t = template_find("alpaca");
  std::string corpus;
  for (const Entry& e : d.entries) corpus += t.full_text(e) + "\n";
  const double mb = corpus.size() / 1e6;
  using clock = std::chrono::steady_clock;

  auto run = [&](bool cold, int reps) {
    double best = 1e9;
    size_t n = 0;
    for (int r = 0; r < reps; r++) {
      if (cold) bpe.cache.clear();
      auto t0 = clock::now();
      n = bpe_encode(bpe, corpus).size();
      best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
    }
    return std::make_pair(mb / best, n);
  };
  auto [cold, n] = run(true, 5);
  auto [warm, n2] = run(false, 5);
  std::printf("corpus: %.2f MB (bundled data, alpaca), %zu tokens\n", mb, n);
  std::printf("instruct  cold cache: %7.1f MB/s   warm cache: %7.1f MB/s\n", cold, warm);
  (void)n2;
  return 0;
}
