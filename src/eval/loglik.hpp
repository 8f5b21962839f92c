// Log-likelihood of continuations given a context, as lm-evaluation-harness's HFLM scores
// multiple-choice requests: the pair tokenized by _encode_pair, the model fed (ctx + cont)[:-1]
// (left-truncated to the context window), the sum of log-softmax at the continuation's tokens.
// A context is run once and its KV cache shared by all its continuations; requests are batched
// into one forward of packed rows (no padding), in the model's precision.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/gpt2.hpp"
#include "text/bpe.hpp"

namespace instruct {

struct LoglikRequest {
  std::vector<int32_t> ctx;                 // never empty (<|endoftext|> for an empty context)
  std::vector<std::vector<int32_t>> conts;  // one per choice, never empty
};

// _encode_pair: trailing whitespace of the context moves to the front of each continuation;
// ctx = encode(context), cont = encode(context + continuation)[len(ctx):]. An empty context is
// <|endoftext|> (`eot`) and the continuation encoded alone.
LoglikRequest loglik_request(Bpe& bpe, std::string_view context,
                             const std::vector<std::string>& continuations, int32_t eot);

struct LoglikOptions {
  int32_t batch_size = 8;                   // requests per forward
  int64_t max_kv_bytes = int64_t{2} << 30;  // KV cache budget: fewer requests per forward above it
};

// Sum of log P(cont_i | ctx) for every continuation of every request. on_done(n) after each batch
// with the requests scored so far.
std::vector<std::vector<double>> loglik_score(ModelRef m, std::span<const LoglikRequest> reqs,
                                              const LoglikOptions& o,
                                              const std::function<void(int64_t)>& on_done = {});

// The same, one continuation at a time with nothing shared: the oracle for the shared cache.
std::vector<double> loglik_score_unshared(ModelRef m, const LoglikRequest& r);

}  // namespace instruct
