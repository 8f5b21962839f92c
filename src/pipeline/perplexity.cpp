// Entries scored a batch at a time through the KV-cache forward, every position's logits at once.
#include "pipeline/perplexity.hpp"

#include <omp.h>

#include <cmath>
#include <cstdio>

#include "backend/backend.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/sys.hpp"
#include "data/examples.hpp"
#include "data/prepared.hpp"
#include "io/dataset_source.hpp"
#include "kernels/gemm.hpp"
#include "model/gpt2_infer.hpp"

namespace instruct {

PerplexityReport perplexity_run(const PerplexityOptions& o, std::ostream& out, std::ostream& log) {
  perplexity_options_visit(OptChecker{}, o);
  const Dataset ds = dataset_open(o.data.data, log);
  const DatasetSplit split = dataset_split(ds, o.data.train_frac, o.data.test_frac);
  const std::span<const Entry> entries = split_entries(split, o.split, o.limit);
  if (entries.empty())
    fail("the ", o.split, " split of ", ds.path.string(), " has no entries; pick another --split");
  InferModel im = infer_model_load(o.infer, log);  // after the data: its errors come first
  const ModelRef m = im.ref();
  const int32_t eot = 50256, n_ctx = m.cfg().n_ctx;
  // The reference's sequences: the full text and one <|endoftext|>, cut to the context.
  std::vector<std::vector<int32_t>> seqs;
  for (Example& e : examples_build(entries, *im.tmpl, im.bpe)) {
    e.tokens.push_back(eot);
    if (static_cast<int32_t>(e.tokens.size()) > n_ctx) e.tokens.resize(n_ctx);
    if (e.tokens.size() >= 2) seqs.push_back(std::move(e.tokens));
  }
  log << "perplexity " << seqs.size() << " entries of the " << o.split << " split, "
      << o.infer.dtype << ", template " << im.tmpl->name() << "\ncpu       " << gemm_machine_line()
      << ", " << omp_get_max_threads() << " threads\n"
      << std::flush;
  constexpr int32_t kBatch = 8;
  int32_t longest = 0;
  for (const auto& s : seqs) longest = std::max(longest, static_cast<int32_t>(s.size()));
  KVCache kv = kv_cache_create(m.cfg(), kBatch, longest, gpt2_precision(m.base).kv);
  InferScratch scratch;
  Progress bar(log, "entries", static_cast<int64_t>(seqs.size()), 10);
  bar.set_eta_after(2 * kBatch);  // the first batch pays for the warm-up
  double nll = 0;
  int64_t count = 0;
  std::vector<double> lp;
  std::vector<int32_t> labels;
  for (size_t b = 0; b < seqs.size(); b += kBatch) {
    const size_t e = std::min(seqs.size(), b + kBatch);
    std::vector<SeqChunk> chunks;
    labels.clear();
    for (size_t i = b; i < e; i++) {
      const auto& s = seqs[i];
      const int32_t n = static_cast<int32_t>(s.size()) - 1;  // inputs; targets are s[1..]
      kv.len[i - b] = 0;
      chunks.push_back({static_cast<int32_t>(i - b), s.data(), n, n});
      labels.insert(labels.end(), s.begin() + 1, s.end());
    }
    const float* logits = gpt2_infer(m, kv, scratch, chunks);
    lp.resize(labels.size());
    backend().logprob_rows(lp.data(), logits, labels.data(), static_cast<int>(labels.size()),
                           m.cfg().vocab);
    for (double v : lp) nll -= v;
    count += static_cast<int64_t>(labels.size());
    bar.update(static_cast<int64_t>(e), "");
  }
  bar.finish();
  PerplexityReport r;
  r.entries = static_cast<int64_t>(seqs.size());
  r.tokens = count;
  r.loss = nll / static_cast<double>(count);
  r.perplexity = std::exp(r.loss);
  char line[256];
  std::snprintf(line, sizeof line,
                "perplexity %.4f (loss %.5f over %lld tokens of %lld entries, %s split, %s)\n",
                r.perplexity, r.loss, static_cast<long long>(r.tokens),
                static_cast<long long>(r.entries), o.split.c_str(), o.infer.dtype.c_str());
  out << line << std::flush;
  return r;
}

}  // namespace instruct
