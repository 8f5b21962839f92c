// Generation: the KV cache against full recompute (batch 1, ragged batches, past the context),
// sampling (top-k 1 = greedy, seeds), EOS per sequence, the reference's response extraction and
// output format, restartable respond, and an overfit model that must answer its training outputs.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "infer/generate.hpp"
#include "infer/text_stream.hpp"
#include "io/bundled.hpp"
#include "io/checkpoint.hpp"
#include "kernels/gemm.hpp"
#include "pipeline/perplexity.hpp"
#include "pipeline/respond.hpp"
#include "pipeline/train.hpp"
#include "test_util.hpp"
#include "text/utf8.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

// A tiny model with peaked logits (weights 5x the usual init), so greedy choices are not near-ties
// yet the output varies.
GPT2 tiny_model(int vocab, int n_ctx, uint64_t seed = 3) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = n_ctx, c.vocab = vocab;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, seed);
  for (const ParamSpec& s : m.w.table)
    if (s.kind == ParamKind::kMatrix || s.kind == ParamKind::kEmbedding)
      for (int64_t i = 0; i < s.numel; i++) m.w.params[s.offset + i] *= 5.0f;
  return m;
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
  std::vector<int32_t> p(n);
  for (int i = 0; i < n; i++) p[i] = (i * 37 + salt * 11 + 5) % vocab;
  return p;
}

std::vector<std::vector<int32_t>> run_batch(GPT2& m,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            const GenerateOptions& o) {
  std::vector<std::vector<int32_t>> out(prompts.size());
  std::vector<std::vector<int32_t>> streamed(prompts.size());
  generate_batch(
      m, prompts, o, [&](size_t i, int32_t t) { streamed[i].push_back(t); },
      [&](size_t i, std::vector<int32_t>& g) { out[i] = g; });
  EXPECT_EQ(out, streamed);  // streaming gives the same tokens as the result
  return out;
}

TEST(Generate, KVCacheEqualsRecomputeForOnePrompt) {
  GPT2 m = tiny_model(97, 64);
  GenerateOptions o;
  o.max_new_tokens = 30;
  o.eos = -1;
  const auto p = prompt_of(7, 97, 1);
  const auto want = generate_recompute(m, p, 30, -1);
  ASSERT_EQ(want.size(), 30u);
  EXPECT_EQ(run_batch(m, {p}, o)[0], want);
  std::set<int32_t> distinct(want.begin(), want.end());
  EXPECT_GT(distinct.size(), 3u);  // not a degenerate repeat of one token
}

// The training forward (whole sequence, causal attention over B x T) and the inference forward
// (one token at a time from the KV cache) run the same block body: every position's logits agree.
TEST(Generate, TheTrainingAndInferenceForwardsAgreeAtEveryPosition) {
  GPT2 m = tiny_model(97, 64);
  const std::vector<int32_t> p = prompt_of(23, 97, 2);
  const int T = static_cast<int>(p.size()), V = 97;
  GPT2Step step;
  const float* full = gpt2_logits(m, step, p.data(), 1, T);
  const std::vector<float> train(full, full + static_cast<size_t>(T) * V);
  KVCache kv = kv_cache_create(m.cfg, 1, 64);
  InferScratch s;
  double worst = 0;
  for (int t = 0; t < T; t++) {
    const SeqChunk c{0, p.data() + t, 1};
    const float* l = gpt2_infer(m, kv, s, std::span<const SeqChunk>(&c, 1));
    for (int v = 0; v < V; v++) worst = std::max(worst, std::fabs(double(l[v]) - train[t * V + v]));
  }
  EXPECT_LT(worst, 1e-4);
}

TEST(Generate, RaggedBatchesEqualRecompute) {
  GPT2 m = tiny_model(97, 64);
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {3, 9, 1, 17, 5}) prompts.push_back(prompt_of(n, 97, n));
  std::vector<std::vector<int32_t>> want;
  for (const auto& p : prompts) want.push_back(generate_recompute(m, p, 12, -1));
  for (int bs : {1, 2, 3, 5, 8}) {
    GenerateOptions o;
    o.max_new_tokens = 12, o.eos = -1, o.batch_size = bs;
    EXPECT_EQ(run_batch(m, prompts, o), want) << "batch " << bs;
  }
}

TEST(Generate, PastTheContextTheWindowSlidesAsTheReference) {
  GPT2 m = tiny_model(97, 16);
  const std::vector<std::vector<int32_t>> prompts = {prompt_of(10, 97, 2),
                                                     prompt_of(20, 97, 3)};  // 20 > n_ctx
  GenerateOptions o;
  o.max_new_tokens = 20, o.eos = -1, o.batch_size = 2;
  const auto got = run_batch(m, prompts, o);
  for (size_t i = 0; i < prompts.size(); i++)
    EXPECT_EQ(got[i], generate_recompute(m, prompts[i], 20, -1)) << i;
}

TEST(Generate, Bf16WeightsStayCloseToFp32) {
  gemm_emulate_bf16(
      true);  // where the CPU has no bf16 matmul, the seam emulates it (same numerics)
  GPT2 m = tiny_model(97, 64);
  const std::vector<int32_t> p = prompt_of(9, 97, 4);
  auto first_logits = [&] {
    KVCache kv = kv_cache_create(m.cfg, 1, 16);
    InferScratch s;
    const SeqChunk c{0, p.data(), static_cast<int32_t>(p.size())};
    const float* l = gpt2_infer(m, kv, s, std::span<const SeqChunk>(&c, 1));
    return std::vector<float>(l, l + 97);
  };
  const auto f32 = first_logits();
  gpt2_set_precision(m, inference_precision(DType::kBF16));
  const auto b16 = first_logits();
  double worst = 0, scale = 0;
  for (int v = 0; v < 97; v++)
    worst = std::max(worst, double(std::fabs(f32[v] - b16[v]))),
    scale = std::max(scale, double(std::fabs(f32[v])));
  EXPECT_GT(worst, 0.0);           // really a different path
  EXPECT_LT(worst, 0.03 * scale);  // bf16 keeps ~3 significant digits
  EXPECT_EQ(std::max_element(f32.begin(), f32.end()) - f32.begin(),
            std::max_element(b16.begin(), b16.end()) - b16.begin());
  gpt2_set_precision(m, kFp32);
  EXPECT_EQ(first_logits(), f32);
  gemm_emulate_bf16(false);
}

// A bf16 KV cache: logits of every position within 1% of the fp32 cache's (and not equal: it
// really rounds), the same greedy tokens on a peaked model, and a forked slot (kv_cache_copy)
// continuing exactly as the slot it was copied from.
// Prompts longer than a step's prefill budget (and several arriving at once) prefill in chunks over
// several steps while the others decode: every sequence still equals its full recompute.
TEST(Generate, ChunkedPrefillEqualsRecompute) {
  GPT2 m = tiny_model(97, 64);
  BatchDecoder dec(m, 3, 64, 4);
  std::vector<std::vector<int32_t>> prompts, got(4), want;
  for (int n : {3, 11, 19, 26}) prompts.push_back(prompt_of(n, 97, n));
  for (const auto& p : prompts) want.push_back(generate_recompute(m, p, 10, -1));
  std::vector<int> slot_of(3, -1);
  size_t next = 0, done = 0;
  int waiting_steps = 0;  // steps where an active sequence had no pick (its prompt still read)
  for (int step = 0; done < prompts.size() && step < 300; step++) {
    for (int32_t sl; next < prompts.size() && (sl = dec.free_slot()) >= 0; next++)
      slot_of[sl] = static_cast<int>(next), dec.start(sl, prompts[next], SampleOptions{});
    const int32_t before = dec.active();
    const auto& picks = dec.step();
    waiting_steps += static_cast<int32_t>(picks.size()) < before;
    for (const BatchDecoder::Pick& p : picks) {
      auto& g = got[slot_of[p.slot]];
      g.push_back(p.token);
      if (g.size() == 10) dec.stop(p.slot), done++;
    }
  }
  EXPECT_EQ(got, want);
  EXPECT_GT(waiting_steps, 3);
  GenerateOptions o;  // generate_batch goes on through steps without picks
  o.max_new_tokens = 10, o.eos = -1, o.batch_size = 3;
  std::vector<std::vector<int32_t>> out(prompts.size());
  generate_batch(m, prompts, o, nullptr, [&](size_t i, std::vector<int32_t>& g) { out[i] = g; });
  EXPECT_EQ(out, want);
}

TEST(Generate, Bf16KVCacheStaysCloseToFp32) {
  GPT2 m = tiny_model(97, 64);
  const std::vector<int32_t> p = prompt_of(12, 97, 2);
  const int n = static_cast<int>(p.size());
  auto logits = [&](DType t) {
    KVCache kv = kv_cache_create(m.cfg, 2, 32, t);
    EXPECT_EQ(kv.bf16, t == DType::kBF16);
    InferScratch s;
    const SeqChunk c{0, p.data(), n, n};
    const float* l = gpt2_infer(m, kv, s, std::span<const SeqChunk>(&c, 1));
    std::vector<float> out(l, l + int64_t(n) * 97);
    kv_cache_copy(kv, 0, 1);  // the fork continues as slot 0 does
    const int32_t next = 5;
    const SeqChunk both[] = {{0, &next, 1}, {1, &next, 1}};
    const float* l2 = gpt2_infer(m, kv, s, both);
    EXPECT_TRUE(std::equal(l2, l2 + 97, l2 + 97)) << dtype_name(t);
    return out;
  };
  const auto f32 = logits(DType::kF32), b16 = logits(DType::kBF16);
  double d2 = 0, n2 = 0;
  for (size_t i = 0; i < f32.size(); i++)
    d2 += std::pow(b16[i] - f32[i], 2), n2 += std::pow(f32[i], 2);
  EXPECT_GT(d2, 0.0);
  EXPECT_LT(std::sqrt(d2 / n2), 0.01);
  GenerateOptions o;
  o.max_new_tokens = 20, o.eos = -1;
  const auto want = run_batch(m, {p}, o);
  Precision prec;
  prec.kv = DType::kBF16;
  gpt2_set_precision(m, prec);
  EXPECT_EQ(run_batch(m, {p}, o), want);
  EXPECT_THROW(kv_cache_create(m.cfg, 1, 8, DType::kQ8_0), Error);
}

TEST(Generate, EosStopsOnlyTheSequenceThatProducedIt) {
  GPT2 m = tiny_model(97, 64);
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {4, 6, 8, 10}) prompts.push_back(prompt_of(n, 97, n));
  GenerateOptions o;
  o.max_new_tokens = 16, o.eos = -1, o.batch_size = 4;
  const auto free_run = run_batch(m, prompts, o);
  o.eos = free_run[0][5];  // a token prompt 0 produces at step 5
  const auto got = run_batch(m, prompts, o);
  size_t stopped = 0, full = 0;
  for (size_t i = 0; i < prompts.size(); i++) {
    const auto want = generate_recompute(m, prompts[i], 16, o.eos);
    EXPECT_EQ(got[i], want) << i;
    auto at = std::find(free_run[i].begin(), free_run[i].end(), o.eos);
    EXPECT_EQ(got[i], std::vector<int32_t>(free_run[i].begin(), at))
        << i;  // the prefix before its own EOS
    stopped += got[i].size() < 16, full += got[i].size() == 16;
  }
  EXPECT_LE(got[0].size(), 5u);
  EXPECT_GE(full, 1u) << "another sequence went on";
  EXPECT_GE(stopped, 1u);
}

TEST(Generate, SamplingIsSeededAndTopK1IsGreedy) {
  GPT2 m = tiny_model(97, 64);
  std::vector<std::vector<int32_t>> prompts = {prompt_of(5, 97, 1), prompt_of(8, 97, 2),
                                               prompt_of(3, 97, 3)};
  GenerateOptions greedy;
  greedy.max_new_tokens = 20, greedy.eos = -1, greedy.batch_size = 3;
  GenerateOptions k1 = greedy;
  k1.sample.temperature = 1.5, k1.sample.top_k = 1;
  EXPECT_EQ(run_batch(m, prompts, k1), run_batch(m, prompts, greedy));
  GenerateOptions s = greedy;
  s.sample.temperature = 5.0, s.sample.top_k = 40, s.sample.top_p = 0.95, s.sample.seed = 7;
  const auto a = run_batch(m, prompts, s);
  EXPECT_EQ(run_batch(m, prompts, s), a);
  s.batch_size = 1;  // each prompt has its own generator: batching does not change the samples
  EXPECT_EQ(run_batch(m, prompts, s), a);
  s.sample.seed = 8;
  EXPECT_NE(run_batch(m, prompts, s), a);
  EXPECT_NE(a, run_batch(m, prompts, greedy));
}

TEST(Generate, ResponseExtractionIsTheReferences) {
  const PromptTemplate& t = template_find("alpaca");
  EXPECT_EQ(response_extract("PROMPT\n\n### Response:\nHello there.\n ", "PROMPT", t),
            "Hello there.");
  EXPECT_EQ(response_extract("PROMPT### Response:a ### Response:b", "PROMPT", t), "a b");
  EXPECT_EQ(response_extract("PROMPT\xc2\xa0 x\xe3\x80\x80", "PROMPT", t),
            "x");  // str.strip: NBSP, U+3000
  EXPECT_EQ(response_extract("PROMPT", "PROMPT", t), "");
  EXPECT_EQ(response_extract("P\n<|assistant|>:\nHi", "P", template_find("phi3")), "Hi");
  EXPECT_EQ(py_strip("\x1f a\xc2\x85"), "a");  // U+0085
}

// Data with a non-ASCII entry and an extra field, to check the output format.
fs::path write_data(const fs::path& dir, const nlohmann::ordered_json& entries) {
  std::ofstream(dir / "data.json") << entries.dump(2);
  return dir / "data.json";
}

nlohmann::ordered_json overfit_entries() {
  return nlohmann::ordered_json::parse(R"([
    {"instruction": "Name the capital of France.", "input": "", "output": "The capital of France is Paris."},
    {"instruction": "Translate to German.", "input": "Good morning", "output": "Guten Morgen, café ✓"},
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "2 plus 3 is 5.", "id": 17},
    {"instruction": "What is the opposite of hot?", "input": "", "output": "The opposite of hot is cold."}
  ])");
}

// The server's pattern: sequences join while others are mid-decode, one leaves early, and a slot
// is reused; each sequence's tokens still equal its own full recompute.
TEST(Generate, SequencesJoiningAndLeavingMidRunEqualRecompute) {
  GPT2 m = tiny_model(97, 64);
  BatchDecoder dec(m, 3, 64);
  struct Want {
    std::vector<int32_t> prompt, want, got;
    int32_t slot = -1;
    int start_step;
  };
  std::vector<Want> seqs;
  for (int i = 0; i < 5; i++) {
    Want w;
    w.prompt = prompt_of(3 + 4 * i, 97, i);
    w.want = generate_recompute(m, w.prompt, 12, -1);
    w.start_step = 3 * i;  // arrivals spread over the run
    seqs.push_back(w);
  }
  size_t next = 0, done = 0;
  for (int step = 0; done < seqs.size() && step < 200; step++) {
    while (next < seqs.size() && seqs[next].start_step <= step && dec.free_slot() >= 0) {
      seqs[next].slot = dec.free_slot();
      dec.start(seqs[next].slot, seqs[next].prompt, SampleOptions{});
      next++;
    }
    for (const BatchDecoder::Pick& p : dec.step())
      for (Want& w : seqs)
        if (w.slot == p.slot) {
          w.got.push_back(p.token);
          const size_t limit = &w == &seqs[1] ? 5 : 12;  // sequence 1 leaves early (a client gone)
          if (w.got.size() == limit) dec.stop(p.slot), w.slot = -1, done++;
        }
  }
  for (size_t i = 0; i < seqs.size(); i++) {
    const size_t n = i == 1 ? 5 : 12;
    EXPECT_EQ(seqs[i].got, std::vector<int32_t>(seqs[i].want.begin(), seqs[i].want.begin() + n))
        << "sequence " << i;
  }
  EXPECT_EQ(dec.active(), 0);
}

TEST(TextStream, StopStringsAreCutAndHeldBackNeverShown) {
  Bpe bpe = bpe_load_dir(test::repo_data(""));
  auto run = [&](const std::string& text, std::string_view marker, std::vector<std::string> stops,
                 bool* stopped) {
    TextStream ts(bpe, marker, stops);
    std::string shown;
    std::vector<std::string> pieces;
    for (int32_t t : bpe_encode(bpe, text)) {
      if (ts.stopped()) break;
      pieces.push_back(ts.push(t));
      shown += pieces.back();
    }
    shown += ts.finish();
    *stopped = ts.stopped();
    return shown;
  };
  bool stopped = false;
  EXPECT_EQ(run("Hello world. Goodbye world.", "", {"Goodbye"}, &stopped), "Hello world. ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(run("Hello world. Goodbye world.", "", {"Good", "world"}, &stopped),
            "Hello ");  // the earliest stop
  EXPECT_EQ(run("Hello world.", "", {"world!"}, &stopped),
            "Hello world.");  // a prefix only: shown at the end
  EXPECT_FALSE(stopped);
  // The response marker and the whitespace after it are skipped; a stop string applies after.
  EXPECT_EQ(run("\n\n### Response:\nThe answer is 4.", "### Response:", {" is"}, &stopped),
            "The answer");
  EXPECT_EQ(run("\n\nNo marker here.", "### Response:", {}, &stopped), "No marker here.");
  // Whole characters only: a character split over tokens appears at once.
  TextStream ts(bpe, "", {});
  std::string all;
  for (int32_t t : bpe_encode(bpe, "日本語 ✓")) {
    const std::string piece = ts.push(t);
    EXPECT_EQ(utf8_find_invalid(piece), std::string_view::npos);
    all += piece;
  }
  EXPECT_EQ(all + ts.finish(), "日本語 ✓");
}

// A random model emits any token: byte tokens that no neighbour completes, characters cut at a
// token's end. Every piece shown is valid UTF-8, and the pieces add up to the whole decode.
TEST(TextStream, RandomTokensGiveValidUtf8EqualToTheWholeDecode) {
  Bpe bpe = bpe_load_dir(test::repo_data(""));
  std::mt19937 rng(7);
  // Byte tokens (ids 0..255 hold the single bytes, 0x80..0xFF among them) are most of the draws.
  std::uniform_int_distribution<int32_t> byte(0, 255), any(0, bpe.size() - 2);
  for (int trial = 0; trial < 200; trial++) {
    TextStream ts(bpe, "", {});
    std::vector<int32_t> ids;
    std::string shown;
    for (int k = 0; k < 40; k++) {
      ids.push_back(rng() % 3 ? byte(rng) : any(rng));
      const std::string piece = ts.push(ids.back());
      ASSERT_EQ(utf8_find_invalid(piece), std::string_view::npos)
          << "trial " << trial << " token " << k;
      shown += piece;
    }
    const std::string rest = ts.finish();
    ASSERT_EQ(utf8_find_invalid(rest), std::string_view::npos);
    EXPECT_EQ(shown + rest, bpe_decode(bpe, ids)) << "trial " << trial;
  }
  // The issue's case: a lead byte and then a space: U+FFFD, then the space, at once.
  std::string held;
  EXPECT_EQ(utf8_sanitize_prefix("\xe5\xbd", held), 0u);  // may still be completed: waits
  EXPECT_EQ(utf8_sanitize_prefix("\xe5\xbd songs", held), 8u);
  EXPECT_EQ(held, "\xef\xbf\xbd songs");
  held.clear();
  EXPECT_EQ(utf8_sanitize_prefix("a\x80", held), 2u);  // a stray continuation byte never completes
  EXPECT_EQ(held, "a\xef\xbf\xbd");
}

TEST(Dataset, ConversationsFoldEarlierTurnsAndTheSystemPrompt) {
  const PromptTemplate& a = template_find("alpaca");
  Entry u1, u2;
  u1.instruction = "Name a colour.";
  u2.instruction = "Another one.";
  u2.input = "not red";
  // One turn, no system prompt: exactly the reference's format_input.
  EXPECT_EQ(conversation_prompt(a, {}, u1), a.prompt(u1));
  // A system prompt replaces the preamble sentence, never adds to it.
  EXPECT_EQ(conversation_prompt(a, {}, u1, "Be brief."),
            "Be brief.\n\n### Instruction:\nName a colour.");
  // Earlier exchanges as rendered training examples, the preamble once.
  EXPECT_EQ(
      conversation_prompt(a, {{u1, "Blue."}}, u2),
      a.prompt(u1) +
          "\n\n### Response:\nBlue.\n\n### Instruction:\nAnother one.\n\n### Input:\nnot red");
  const PromptTemplate& p = template_find("phi3");
  EXPECT_EQ(conversation_prompt(p, {{u1, "Blue."}}, u2),
            "<|user|>\nName a colour.\n<|assistant|>:\nBlue.\n<|user|>\nAnother one.\nnot red");
  EXPECT_EQ(conversation_prompt(p, {}, u1, "Be brief."), "Be brief.\n<|user|>\nName a colour.");
}

// The 4 entries memorized by a tiny model (trained once per test binary, in its own directory).
const fs::path& overfit_dir() {
  struct Removed {  // at exit
    fs::path p;
    ~Removed() { fs::remove_all(p); }
  };
  static const Removed dir{[] {
    const auto d = test::temp_dir("overfit");
    TrainOptions t;
    t.data.data = write_data(d, overfit_entries());
    t.data.tokenizer = test::repo_data("");
    t.data.train_frac = 1.0, t.data.test_frac = 0.0;
    t.data.batch_size = 4;
    t.data.shuffle = true;
    t.model.init = "random";
    t.model.config = "n_layer=2,n_head=2,n_embd=64,n_ctx=128";
    t.data.max_length = 128;
    t.epochs = 150;
    t.lr = 3e-3;
    t.eval_freq = 0;
    t.sample_tokens = 0;
    t.out = d / "run";
    std::ostringstream log;
    const TrainReport tr = train_run(t, log);
    EXPECT_LT(tr.losses.back(), 0.05) << "the model did not memorize the 4 entries";
    return d;
  }()};
  return dir.p;
}

TEST(Respond, AnOverfitModelAnswersItsTrainingOutputsExactly) {
  const fs::path dir = overfit_dir();
  const auto entries = overfit_entries();
  std::ostringstream log;
  RespondOptions r;
  r.infer.model.model = (dir / "run" / "model").string();
  r.data.data = dir / "data.json";
  r.data.train_frac = 1.0, r.data.test_frac = 0.0;
  r.split = "train";
  r.out = dir / "responses.json";
  r.infer.gen.batch_size = 3;
  respond_run(r, log);
  const std::string raw = file_read(r.out);
  const auto got = nlohmann::ordered_json::parse(raw);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < 4; i++) {
    EXPECT_EQ(got[i]["model_response"], entries[i]["output"]) << i;
    // the input's fields in their order, then model_response
    std::vector<std::string> keys, want;
    for (auto it = got[i].begin(); it != got[i].end(); ++it) keys.push_back(it.key());
    for (auto it = entries[i].begin(); it != entries[i].end(); ++it) want.push_back(it.key());
    want.push_back("model_response");
    EXPECT_EQ(keys, want);
  }
  // json.dump(indent=4) layout, UTF-8 kept as is.
  EXPECT_EQ(raw.rfind("[\n    {\n        \"instruction\": ", 0), 0u) << raw.substr(0, 40);
  EXPECT_NE(raw.find("café ✓"), std::string::npos);
  EXPECT_EQ(raw.find("\\u"), std::string::npos);

  // Restartable: kept answers stay, missing ones are generated.
  auto edited = got;
  edited[0]["model_response"] = "KEPT";
  edited[1].erase("model_response");
  std::ofstream(r.out) << edited.dump(4);
  r.resume = true;
  const RespondReport rr = respond_run(r, log);
  EXPECT_EQ(rr.skipped, 3u);
  EXPECT_EQ(rr.generated, 1u);
  const auto again = nlohmann::ordered_json::parse(file_read(r.out));
  EXPECT_EQ(again[0]["model_response"], "KEPT");
  EXPECT_EQ(again[1]["model_response"], entries[1]["output"]);

  // generate: the same answer, streamed without the "### Response:" header.
  GenerateRunOptions g;
  g.infer.model.model = r.infer.model.model;
  g.instruction = entries[1]["instruction"];
  g.input = entries[1]["input"];
  std::ostringstream out, glog;
  generate_run(g, out, glog);
  EXPECT_EQ(out.str(), entries[1]["output"].get<std::string>() + "\n");

  // chat: two turns from a script.
  const std::string script = entries[0]["instruction"].get<std::string>() + "\n\n" +
                             entries[3]["instruction"].get<std::string>() + "\n\n";
  std::istringstream in(script);
  std::ostringstream chat;
  chat_run(g.infer, in, chat, false);
  EXPECT_NE(chat.str().find("The capital of France is Paris.\n"), std::string::npos) << chat.str();
  EXPECT_NE(chat.str().find("The opposite of hot is cold.\n"), std::string::npos) << chat.str();
}

// Q8_0 on a trained model: the logits of every position of the training texts within 2% (relative,
// per row) of fp32's and the same argmax on at least 95% of them; the KV cache equal to a full
// recompute in Q8_0 too; and respond in Q8_0 still gives the memorized answers.
TEST(Respond, Q8_0LogitsOfATrainedModelStayCloseToFp32) {
  const fs::path dir = overfit_dir();
  InferOptions o;
  o.model.model = (dir / "run" / "model").string();
  std::ostringstream log;
  InferModel im = infer_model_load(o, log);
  GPT2& m = im.model;
  ASSERT_EQ(m.cfg.n_embd % 32, 0);
  const int V = m.cfg.vocab;
  std::vector<std::vector<int32_t>> texts;
  for (const auto& e : overfit_entries()) {
    Entry en;
    en.instruction = e["instruction"], en.input = e["input"];
    texts.push_back(bpe_encode(im.bpe, im.tmpl->prompt(en) + e["output"].get<std::string>(),
                               SpecialTokens::kAllow));
  }
  auto all_logits = [&] {
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) {
      KVCache kv = kv_cache_create(m.cfg, 1, static_cast<int32_t>(t.size()));
      InferScratch s;
      const int32_t n = static_cast<int32_t>(t.size());
      const SeqChunk c{0, t.data(), n, n};
      const float* l = gpt2_infer(m, kv, s, std::span<const SeqChunk>(&c, 1));
      for (int32_t i = 0; i < n; i++) out.emplace_back(l + int64_t(i) * V, l + int64_t(i + 1) * V);
    }
    return out;
  };
  const auto f32 = all_logits();
  gpt2_set_precision(m, inference_precision(DType::kQ8_0));
  EXPECT_GT(typed_weights_bytes(m.typed), 0);
  const auto q8 = all_logits();
  ASSERT_EQ(q8.size(), f32.size());
  double worst = 0;
  size_t same = 0;
  for (size_t r = 0; r < f32.size(); r++) {
    double d2 = 0, n2 = 0;
    for (int v = 0; v < V; v++)
      d2 += std::pow(q8[r][v] - f32[r][v], 2), n2 += std::pow(f32[r][v], 2);
    worst = std::max(worst, std::sqrt(d2 / n2));
    same += std::max_element(q8[r].begin(), q8[r].end()) - q8[r].begin() ==
            std::max_element(f32[r].begin(), f32[r].end()) - f32[r].begin();
  }
  EXPECT_GT(worst, 0.0);  // really another path
  EXPECT_LT(worst, 0.02);
  EXPECT_GE(double(same), 0.95 * double(f32.size())) << same << " of " << f32.size();
  // The KV cache in Q8_0 against recomputing every step (gpt2_forward through the same weights).
  const std::vector<int32_t> prompt(texts[1].begin(), texts[1].begin() + 20);
  GenerateOptions g;
  g.max_new_tokens = 24, g.eos = -1;
  EXPECT_EQ(run_batch(m, {prompt}, g)[0], generate_recompute(m, prompt, 24, -1));
  // respond --precision q8_0 answers as fp32 did.
  RespondOptions r;
  r.infer.model.model = o.model.model;
  r.infer.dtype = "q8_0";
  r.data.data = dir / "data.json";
  r.data.train_frac = 1.0, r.data.test_frac = 0.0;
  r.split = "train";
  r.out = dir / "responses-q8.json";
  respond_run(r, log);
  const auto got = nlohmann::ordered_json::parse(file_read(r.out));
  const auto entries = overfit_entries();
  ASSERT_EQ(got.size(), entries.size());
  for (size_t i = 0; i < entries.size(); i++)
    EXPECT_EQ(got[i]["model_response"], entries[i]["output"]) << i;
  // The perplexity of the training texts: the memorized model's is near 1, Q8_0's within 1% of it.
  PerplexityOptions po;
  po.infer.model.model = o.model.model;
  po.data = r.data;
  po.split = "train";
  std::ostringstream pout;
  const PerplexityReport p32 = perplexity_run(po, pout, log);
  po.infer.dtype = "q8_0";
  const PerplexityReport p8 = perplexity_run(po, pout, log);
  EXPECT_EQ(p32.entries, 4);
  EXPECT_EQ(p8.tokens, p32.tokens);
  EXPECT_LT(p32.loss, 0.1);
  EXPECT_NE(p8.loss, p32.loss);
  EXPECT_LT(std::fabs(p8.perplexity / p32.perplexity - 1), 0.01);
  EXPECT_EQ(pout.str().rfind("perplexity ", 0), 0u) << pout.str();
  // A head kept in fp32 is the fp32 head's reference itself.
  r.infer.head_dtype = "fp32";
  EXPECT_EQ(infer_precision(r.infer).head, DType::kF32);
  gpt2_set_precision(m, infer_precision(r.infer));
  EXPECT_EQ(gpt2_head_weights(m).w.dtype, DType::kF32);
  EXPECT_EQ(gpt2_block_weights(m, 0).fc.w.dtype, DType::kQ8_0);
}

}  // namespace
}  // namespace instruct
