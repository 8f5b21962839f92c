// `instruct perplexity`: how well a model predicts a split of the instruction data, as the
// reference's validation loss counts it (each entry's whole formatted text and one <|endoftext|>,
// every next token a target, texts cut to the context), in any inference precision: the check that
// a quantized model (--precision q8_0) stays within a percent of fp32.
#pragma once

#include <ostream>
#include <string>

#include "data/options.hpp"
#include "pipeline/respond.hpp"

namespace instruct {

struct PerplexityOptions {
  InferOptions infer;
  DataOptions data;
  std::string split = "val";
  int64_t limit = 0;  // only the first N entries (0: all)
};
template <class V, class... O>
void perplexity_options_visit(V&& v, O&... o) {
  v({.flag = "split", .help = "The split scored", .choices = "train|val|test"}, o.split...);
  v({.flag = "limit", .help = "Only the first N entries of the split (0: all)", .min = 0},
    o.limit...);
}

struct PerplexityReport {
  double loss = 0;  // mean cross-entropy per target token (nats)
  double perplexity = 0;
  int64_t tokens = 0, entries = 0;
};
// Prints one line to `out` ("perplexity 21.07 (loss 3.048 over 5,913 tokens of 55 entries, ...)").
PerplexityReport perplexity_run(const PerplexityOptions& o, std::ostream& out, std::ostream& log);

}  // namespace instruct
