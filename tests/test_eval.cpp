// instruct eval's parts: Python's random (the harness's few-shot sampler), the task text rules
// (HellaSwag's preprocess, str.capitalize, csv.reader), few-shot contexts, _encode_pair, and the
// shared-context scorer against scoring each continuation alone. The whole command is checked
// against the harness's semantics in Python by tests/eval/check_eval.sh.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.hpp"
#include "eval/loglik.hpp"
#include "eval/tasks.hpp"
#include "model/gpt2_infer.hpp"
#include "pipeline/eval.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

TEST(PyRandom, MatchesPythonRandom) {
  // python3: random.Random(seed).getrandbits(32), .sample(range(n), k) in turn
  PyRandom r0(0);
  EXPECT_EQ(r0.genrand(), 3626764237u);
  EXPECT_EQ(r0.genrand(), 1654615998u);
  PyRandom big((uint64_t{1} << 40) + 5);  // a seed of two 32-bit words
  EXPECT_EQ(big.genrand(), 2166296868u);
  EXPECT_EQ(big.genrand(), 2220160828u);
  PyRandom r(1234);
  EXPECT_EQ(r.sample(12, 6), (std::vector<int64_t>{7, 1, 0, 10, 9, 5}));  // the pool algorithm
  EXPECT_EQ(r.sample(3000, 9),
            (std::vector<int64_t>{2838, 343, 403, 1452, 969, 71, 126, 64, 1417}));  // the set one
  PyRandom s(1234);
  EXPECT_EQ(s.sample(40000, 6), (std::vector<int64_t>{28883, 7657, 490, 5940, 38156, 2288}));
  EXPECT_EQ(s.sample(10, 3), (std::vector<int64_t>{1, 9, 5}));
  EXPECT_THROW(s.sample(3, 4), Error);
}

TEST(EvalTasks, TextRulesAsPython) {
  // re.sub("\\[.*?\\]", "", ...) stops at a newline; " [title]" first; one pass of "  " -> " "
  EXPECT_EQ(hellaswag_preprocess("  How to cook [title] Boil water [step] Then   eat. "),
            "How to cook. Boil water Then  eat.");
  EXPECT_EQ(hellaswag_preprocess("a [open\n] b [x]c"), "a [open\n] b c");
  EXPECT_EQ(py_capitalize("hELLO World"), "Hello world");
  EXPECT_EQ(py_capitalize("ÉCOLE CAFÉ"), "École café");
  EXPECT_EQ(py_capitalize(""), "");
  const auto rows = csv_parse("a,\"b, \"\"c\"\"\nd\",e\r\n\n\"\",x\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b, \"c\"\nd", "e"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"", "x"}));
}

TEST(EvalTasks, FewShotContextsAsTheHarnessJoinsThem) {
  McTask t;
  t.description = "About x.\n\n";
  for (int i = 0; i < 6; i++)
    t.docs.push_back({"Q" + std::to_string(i) + "\nAnswer:", {"a", "b"}, i % 2});
  t.pool = t.docs;
  t.sampler = McTask::Sampler::kFirstN;
  auto items = mc_items(t, 2, 1);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].context, "About x.\n\nQ0\nAnswer: a\n\nQ1\nAnswer: b\n\nQ0\nAnswer:");
  // random: random.Random(1234).sample over the pool, one draw per document in turn
  t.sampler = McTask::Sampler::kRandom;
  t.description.clear();
  items = mc_items(t, 2, 2);
  PyRandom r(1234);
  const auto first = r.sample(6, 2), second = r.sample(6, 2);
  EXPECT_EQ(items[1].context, t.pool[second[0]].text + " " +
                                  t.pool[second[0]].choices[second[0] % 2] + "\n\n" +
                                  t.pool[second[1]].text + " " +
                                  t.pool[second[1]].choices[second[1] % 2] + "\n\nQ1\nAnswer:");
  (void)first;
  EXPECT_THROW(mc_items(t, 7, 1), Error);
}

TEST(EvalTasks, UnknownTaskIsOneLine) {
  try {
    mc_tasks_load("hellaswag,mmlu_astronomyy", {}, false, std::cerr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown task mmlu_astronomyy"), std::string::npos);
  }
}

TEST(Loglik, EncodePairMovesTrailingSpaces) {
  Bpe& bpe = test::gpt2();
  // "Answer: " + " A": the context's trailing space joins the continuation
  const LoglikRequest r = loglik_request(bpe, "Answer: ", {" A", "B"}, 50256);
  EXPECT_EQ(r.ctx, bpe_encode(bpe, "Answer:"));
  EXPECT_EQ(r.conts[0], bpe_encode(bpe, "  A"));
  EXPECT_EQ(r.conts[1], bpe_encode(bpe, " B"));
  const LoglikRequest e = loglik_request(bpe, "", {" A"}, 50256);
  EXPECT_EQ(e.ctx, std::vector<int32_t>{50256});
  EXPECT_THROW(loglik_request(bpe, "x", {""}, 50256), Error);
}

GPT2 scoring_model(int n_ctx) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = n_ctx, c.vocab = 61;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 9);
  return m;
}

// The shared context cache, forked per choice, batched with padding-free rows, gives what scoring
// every continuation alone gives: one-token and long continuations, contexts that share nothing,
// choices whose window must be left-truncated (only those leave the shared cache).
TEST(Loglik, SharedContextEqualsEachContinuationAlone) {
  GPT2 m = scoring_model(24);
  std::vector<LoglikRequest> reqs;
  for (int i = 0; i < 9; i++) {
    LoglikRequest r;
    const int n = 1 + (i * 7) % 20;  // 1..20 context tokens
    for (int j = 0; j < n; j++) r.ctx.push_back((i * 13 + j * 5) % 61);
    for (int k = 0; k < 2 + i % 3; k++) {
      std::vector<int32_t> cont;
      const int len = k == 0 ? 1 : 1 + (i + k * 3) % 8;  // some pass the window: truncated
      for (int j = 0; j < len; j++) cont.push_back((i + k * 17 + j * 3) % 61);
      r.conts.push_back(cont);
    }
    reqs.push_back(r);
  }
  for (int batch : {1, 3, 16}) {
    LoglikOptions o;
    o.batch_size = batch;
    int64_t last = 0;
    const auto got = loglik_score(m, reqs, o, [&](int64_t n) { last = n; });
    EXPECT_EQ(last, 9);
    for (size_t i = 0; i < reqs.size(); i++) {
      const auto want = loglik_score_unshared(m, reqs[i]);
      ASSERT_EQ(got[i].size(), want.size());
      for (size_t k = 0; k < want.size(); k++) {
        EXPECT_NEAR(got[i][k], want[k], 1e-4 * std::max(1.0, std::abs(want[k])))
            << "batch " << batch << " request " << i << " choice " << k;
        EXPECT_LT(got[i][k], 0.0);
      }
    }
  }
  // A tight cache budget: one request per forward, the same numbers.
  LoglikOptions tight;
  tight.max_kv_bytes = 1;
  const auto a = loglik_score(m, reqs, tight), b = loglik_score(m, reqs, {});
  for (size_t i = 0; i < reqs.size(); i++)
    for (size_t k = 0; k < a[i].size(); k++) EXPECT_NEAR(a[i][k], b[i][k], 1e-5);
}

// Several logit rows per chunk are the rows a full recompute gives at those positions; a copied
// slot continues as the original would.
TEST(Loglik, ChunkLogitRowsAndSlotCopies) {
  GPT2 m = scoring_model(32);
  const int64_t V = m.cfg.vocab;
  std::vector<int32_t> toks = {3, 14, 15, 9, 26, 5, 35, 8};
  InferScratch s;
  KVCache kv = kv_cache_create(m.cfg, 2, 16);
  const SeqChunk all{0, toks.data(), 8, 8};
  const float* l = gpt2_infer(m, kv, s, {&all, 1});
  const std::vector<float> rows(l, l + 8 * V);
  for (int p = 0; p < 8; p++) {
    KVCache one = kv_cache_create(m.cfg, 1, 16);
    const SeqChunk c{0, toks.data(), p + 1};
    const float* r = gpt2_infer(m, one, s, {&c, 1});
    for (int64_t j = 0; j < V; j++) ASSERT_NEAR(r[j], rows[p * V + j], 1e-4) << p;
  }
  // A prefix cached once, copied to a second slot; both continue as the whole sequence did.
  KVCache fork = kv_cache_create(m.cfg, 2, 16);
  const SeqChunk head{0, toks.data(), 5};
  gpt2_infer(m, fork, s, {&head, 1});
  kv_cache_copy(fork, 0, 1);
  EXPECT_EQ(fork.len[1], 5);
  const SeqChunk tails[2] = {{0, toks.data() + 5, 3, 3}, {1, toks.data() + 5, 3, 2}};
  const float* t = gpt2_infer(m, fork, s, tails);
  for (int64_t j = 0; j < V; j++) {
    for (int q = 0; q < 3; q++) ASSERT_NEAR(t[q * V + j], rows[(5 + q) * V + j], 1e-4);
    for (int q = 0; q < 2; q++) ASSERT_NEAR(t[(3 + q) * V + j], rows[(6 + q) * V + j], 1e-4);
  }
}

TEST(EvalScores, MeansStderrsAndPoolingAsTheHarness) {
  const McScore a = mc_score("a", {1, 0, 0, 1}, {1, 1, 1, 0});
  EXPECT_DOUBLE_EQ(a.acc, 0.5);
  EXPECT_NEAR(a.acc_stderr, std::sqrt(1.0 / 3.0) / 2.0, 1e-12);  // sample sd / sqrt(n)
  EXPECT_DOUBLE_EQ(a.acc_norm, 0.75);
  const McScore b = mc_score("b", {1, 1}, {});
  EXPECT_FALSE(b.norm);
  const McScore p = mc_pool("g", {a, b});
  EXPECT_EQ(p.n, 6);
  EXPECT_NEAR(p.acc, 4.0 / 6.0, 1e-12);
  // pooled_sample_stderr: sqrt(sum((n-1) se^2 n) / (N - parts) / N)
  EXPECT_NEAR(p.acc_stderr, std::sqrt((3 * a.acc_stderr * a.acc_stderr * 4 + 0.0) / 4.0 / 6.0),
              1e-12);
  EXPECT_TRUE(std::isnan(mc_score("one", {1}, {}).acc_stderr));
}

}  // namespace
}  // namespace instruct
