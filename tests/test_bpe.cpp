// GPT-2 BPE against the Python oracle's goldens, the reference's ids, round trips and bad input.
#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"
#include "core/sys.hpp"
#include "data/dataset.hpp"
#include "data/prompt_template.hpp"
#include "test_util.hpp"
#include "text/utf8.hpp"

namespace instruct {
namespace {

using test::gpt2;

const nlohmann::json& goldens() {
  static nlohmann::json g = test::read_json(test::test_data("tokenizer_goldens.json"));
  return g;
}

TEST(Bpe, VocabularyShape) {
  EXPECT_EQ(gpt2().size(), 50257);
  EXPECT_EQ(gpt2().eot, 50256);
  EXPECT_EQ(gpt2().merges.size(), 50000u);
}

TEST(Bpe, ReferenceFirstIds) {
  const Dataset d = dataset_load(test::repo_data("instruction-data.json"));
  const PromptTemplate& t = template_find("alpaca");
  const std::vector<int32_t> want = {21106, 318,   281, 12064, 326,   8477,  257,   4876,
                                     13,    19430, 257, 2882,  326,   20431, 32543, 262,
                                     2581,  13,    198, 198,   21017, 46486, 25,    198};
  auto ids = bpe_encode(gpt2(), t.full_text(d.entries[0]));
  ASSERT_GE(ids.size(), want.size());
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + want.size()), want);
  EXPECT_EQ(bpe_encode(gpt2(), "<|user|>"), (std::vector<int32_t>{27, 91, 7220, 91, 29}));
}

TEST(Bpe, EveryBundledEntryMatchesOracle) {
  const Dataset d = dataset_load(test::repo_data("instruction-data.json"));
  const auto& g = goldens();
  ASSERT_EQ(g["alpaca_full"].size(), d.entries.size());
  const PromptTemplate& alpaca = template_find("alpaca");
  const PromptTemplate& phi3 = template_find("phi3");
  size_t bad = 0;
  for (size_t i = 0; i < d.entries.size(); i++) {
    const Entry& e = d.entries[i];
    bad +=
        bpe_encode(gpt2(), alpaca.full_text(e)) != g["alpaca_full"][i].get<std::vector<int32_t>>();
    bad += bpe_encode(gpt2(), phi3.full_text(e)) != g["phi3_full"][i].get<std::vector<int32_t>>();
    bad += bpe_encode(gpt2(), alpaca.prompt(e)).size() != g["alpaca_prompt_len"][i].get<size_t>();
    if (bad) ADD_FAILURE() << "entry " << i << " differs from the oracle";
    if (bad) break;
  }
  EXPECT_EQ(bad, 0u);
}

TEST(Bpe, HardUnicodeStringsMatchOracle) {
  for (const auto& h : goldens()["hard"]) {
    const std::string text = h["text"];
    EXPECT_EQ(bpe_encode(gpt2(), text), h["ids"].get<std::vector<int32_t>>())
        << "text: " << nlohmann::json(text).dump();
    EXPECT_EQ(bpe_decode_bytes(gpt2(), bpe_encode(gpt2(), text)), text);
  }
  EXPECT_GE(goldens()["hard"].size(), 300u);
}

TEST(Bpe, SpecialTokenIsTextByDefault) {
  const auto as_text = bpe_encode(gpt2(), "<|endoftext|>");
  EXPECT_GT(as_text.size(), 1u);
  EXPECT_EQ(std::count(as_text.begin(), as_text.end(), 50256), 0);
  for (const auto& h : goldens()["special"])
    EXPECT_EQ(bpe_encode(gpt2(), h["text"].get<std::string>(), SpecialTokens::kAllow),
              h["ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(bpe_encode(gpt2(), "<|endoftext|>", SpecialTokens::kAllow),
            std::vector<int32_t>{50256});
  const int32_t eot[] = {50256};
  EXPECT_EQ(bpe_decode(gpt2(), eot), "<|endoftext|>");
}

TEST(Bpe, RoundTripRandomValidUtf8) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> len(0, 64), kind(0, 9);
  std::uniform_int_distribution<uint32_t> ascii(0, 0x7F), bmp(0x80, 0xFFFF),
      astral(0x10000, 0x10FFFF);
  for (int n = 0; n < 3000; n++) {
    std::string s;
    for (int i = len(rng); i > 0; i--) {
      const int k = kind(rng);
      uint32_t cp = k < 5 ? ascii(rng) : k < 8 ? bmp(rng) : astral(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x20;
      utf8_append(s, cp);
    }
    ASSERT_EQ(utf8_find_invalid(s), std::string::npos);
    const auto ids = bpe_encode(gpt2(), s);
    ASSERT_EQ(bpe_decode_bytes(gpt2(), ids), s) << nlohmann::json(s).dump();
    ASSERT_EQ(bpe_decode(gpt2(), ids), s);
  }
}

// Long pieces merge through a priority queue: the same tokens as the passes of encoder.py, on
// every bundled text (all pieces forced through the queue) and on long words that repeat
// patterns (where overlapping occurrences of the best pair decide the result).
TEST(Bpe, QueueMergeEqualsThePasses) {
  Bpe passes = gpt2(), queue = gpt2();
  passes.queue_merge_from = SIZE_MAX;
  queue.queue_merge_from = 0;
  passes.cache.clear(), queue.cache.clear();
  const Dataset d = dataset_load(test::repo_data("instruction-data.json"));
  const PromptTemplate& alpaca = template_find("alpaca");
  for (size_t i = 0; i < d.entries.size(); i += 7) {
    const std::string text = alpaca.full_text(d.entries[i]);
    ASSERT_EQ(bpe_encode(queue, text), bpe_encode(passes, text)) << "entry " << i;
  }
  std::mt19937 rng(5);
  const std::vector<std::string> parts = {"a", "aa",       "ab", "ba", "the", "ing",
                                          "e", "\xc3\xa9", "ll", "o",  "th"};
  for (int t = 0; t < 200; t++) {
    std::string word;
    const int len = 1 + rng() % 120;
    for (int i = 0; i < len; i++) word += parts[rng() % parts.size()];
    ASSERT_EQ(bpe_encode(queue, word), bpe_encode(passes, word)) << word;
  }
  // One unbroken 1 MB word: the passes would take minutes; the queue a fraction of a second.
  const std::string huge(1 << 20, 'x');
  const auto ids = bpe_encode(gpt2(), huge);
  EXPECT_EQ(bpe_decode(gpt2(), ids), huge);
}

TEST(Bpe, InvalidUtf8NamesTheByte) {
  for (const std::string& bad :
       {std::string("abc\xff"), std::string("ok \xc3"), std::string("\xed\xa0\x80 surrogate"),
        std::string("\xc0\xaf overlong")}) {
    try {
      bpe_encode(gpt2(), bad);
      ADD_FAILURE() << "no error for " << nlohmann::json::binary({bad.begin(), bad.end()}).dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid UTF-8 at byte"), std::string::npos) << e.what();
    }
  }
  try {
    bpe_encode(gpt2(), "12345\x80");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 5"), std::string::npos) << e.what();
  }
}

TEST(Bpe, DecodeIsLossyOnlyForPartialCharacters) {
  const auto ids = bpe_encode(gpt2(), "世");
  ASSERT_GT(ids.size(), 1u);  // a CJK character split across byte tokens
  std::vector<int32_t> first(ids.begin(), ids.end() - 1);
  EXPECT_EQ(bpe_decode(gpt2(), first).find("\xEF\xBF\xBD"), 0u);
  const int32_t out_of_range[] = {50257};
  EXPECT_THROW(bpe_decode(gpt2(), out_of_range), Error);
}

TEST(Bpe, LoadsHuggingFaceFiles) {
  const auto dir = test::temp_dir("hf_vocab");
  std::filesystem::copy_file(test::repo_data("gpt2-encoder.json"), dir / "vocab.json",
                             std::filesystem::copy_options::overwrite_existing);
  // merges.txt with CRLF line ends and no version header still loads.
  std::string merges = file_read(test::repo_data("gpt2-vocab.bpe"));
  merges = merges.substr(merges.find('\n') + 1);
  std::string crlf;
  for (char c : merges) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  {
    AtomicFile f(dir / "merges.txt");
    f.stream() << crlf;
    f.commit();
  }
  Bpe hf = bpe_load_dir(dir);
  const std::string text = "Hello, world! 123 'll 世界 😀";
  EXPECT_EQ(bpe_encode(hf, text), bpe_encode(gpt2(), text));
  EXPECT_EQ(hf.eot, 50256);
  std::filesystem::remove_all(dir);
}

TEST(Bpe, BadTokenizerFilesAreClearErrors) {
  const auto dir = test::temp_dir("bad_vocab");
  {
    AtomicFile f(dir / "vocab.json");
    f.stream() << R"({"a": 0, "b": 1})";
    f.commit();
    AtomicFile m(dir / "merges.txt");
    m.stream() << "#version: 0.2\na b\n";
    m.commit();
  }
  try {
    bpe_load_dir(dir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bpe_load_dir(dir / "nowhere"), Error);
  std::filesystem::remove_all(dir);
}

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("a\xF0\x9F\x98"), "a\xEF\xBF\xBD");        // truncated emoji
  EXPECT_EQ(utf8_sanitize("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two bytes
  EXPECT_EQ(utf8_sanitize("\xE2\x82x"), "\xEF\xBF\xBDx");            // truncated 3-byte
  EXPECT_EQ(utf8_sanitize("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");    // valid euro sign
}

}  // namespace
}  // namespace instruct
