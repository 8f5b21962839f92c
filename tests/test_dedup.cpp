// `instruct dedup`'s search: Python's text normalization, and the two indexed searches (prefix
// filtering, dense heads by GEMM) against comparing every pair. The scores against scikit-learn are
// checked by tests/oracle/dedup_oracle.py (CTest oracle.dedup_matches_sklearn).
#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"
#include "data/dedup.hpp"

namespace instruct {
namespace {

// Expected values printed by Python 3.11: re.sub(r"\s\s+", " ", re.sub(r"[^\w\s]", "", t.lower())).
TEST(Dedup, NormalizesAsPython) {
  const std::pair<const char*, std::u32string> cases[] = {
      {"Hello, World!", U"hello world"},
      {"a . b", U"a b"},               // punctuation out first, then the double space collapses
      {"x\ny", U"x\ny"},               // a single whitespace character stays as it is
      {"ΟΔΟΣ ΣΟΦΙΑ.", U"οδος σοφια"},  // final sigma at the end of a word
      {"İstanbul", U"istanbul"},       // İ lowers to i + U+0307, a mark, which \w drops
      {"½ cup", U"½ cup"},             // numeric characters are \w
      {"snake_case", U"snake_case"},
      {"e\xcc\x81t\xc3\xa9", U"et\u00e9"},  // a combining accent goes, a precomposed one stays
      {"tab\t\tend  x\u3000\u3000y", U"tab end x y"},
      {"\x1c\x1c", U" "},  // str.isspace() includes the ASCII separators
      {"\xd9\xa3 digits", U"\u0663 digits"},
      {"\xc7\x84", U"\u01c6"},  // DŽ
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(dedup_normalize(in), want) << in;
}

std::string random_text(std::mt19937& rng, size_t words) {
  static const char* vocab[] = {
      "the",   "a",        "data", "model", "capital", "italy", "rome",  "is",     "of",
      "write", "sentence", "verb", "cat",   "sleeps",  "couch", "paris", "france", "ünïcode",
      "λόγος", "東京",     "x",    "zz",    "list",    "three", "tips"};
  std::string s;
  for (size_t i = 0; i < words; i++) {
    if (i) s += rng() % 9 == 0 ? ", " : " ";
    s += vocab[rng() % std::size(vocab)];
  }
  return s;
}

// A corpus with short and long texts, exact and near copies, empty and one-character ones.
std::vector<std::string> corpus(uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  std::vector<std::string> t;
  for (size_t i = 0; i < n; i++) {
    const uint32_t r = rng() % 20;
    if (r == 0)
      t.push_back("");
    else if (r == 1)
      t.push_back("?");
    else if (r == 2)
      t.push_back("A");
    else if (r < 6 && !t.empty())
      t.push_back(t[rng() % t.size()] + (rng() % 2 ? "!" : " data"));
    else
      t.push_back(random_text(rng, r < 12 ? 1 + rng() % 8 : 40 + rng() % 200));
  }
  return t;
}

TEST(Dedup, IndexFindsExactlyTheAllPairsResult) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<std::string> texts = corpus(seed, 300);
    for (double t : {0.0, 0.2, 0.5, 0.75, 0.9, 0.97}) {
      const std::vector<DedupPair> want = near_duplicates_all_pairs(texts, t);
      // Sparse search only, dense only, and a mix of both.
      for (const DedupTuning tuning :
           {DedupTuning{8, 0.0}, DedupTuning{8, 2.0}, DedupTuning{16, 0.8}}) {
        const std::vector<DedupPair> got = near_duplicates(texts, t, {}, tuning);
        ASSERT_EQ(got.size(), want.size())
            << "seed " << seed << " threshold " << t << " head " << tuning.head;
        for (size_t k = 0; k < got.size(); k++) {
          EXPECT_EQ(got[k].i, want[k].i);
          EXPECT_EQ(got[k].j, want[k].j);
          EXPECT_NEAR(got[k].score, want[k].score, 1e-12);
          EXPECT_LT(got[k].i, got[k].j);
        }
      }
      if (t == 0.9) {
        EXPECT_GT(want.size(), 10u) << "the corpus must hold near-duplicates";
      }
    }
  }
}

TEST(Dedup, ShortAndEmptyTextsAreNeverPaired) {
  const std::vector<std::string> texts = {
      "A", "A", "", "", "Rome is the capital.", "Rome is the capital!"};
  const std::vector<DedupPair> p = near_duplicates(texts, 0.9);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].i, 4);
  EXPECT_EQ(p[0].j, 5);
  EXPECT_NEAR(p[0].score, 1.0, 1e-12);
  EXPECT_TRUE(near_duplicates(std::vector<std::string>{"", "?", "!"}, 0.5).empty());
  EXPECT_THROW(near_duplicates(texts, 1.5), Error);
}

}  // namespace
}  // namespace instruct
