// Near-duplicate texts, as the reference's find-near-duplicates.py finds them: lowercase, strip
// punctuation, TF-IDF over character 1-3-grams (scikit-learn's TfidfVectorizer defaults), cosine
// similarity above a threshold. Not all pairs: an inverted index over each vector's prefix (rare
// n-grams first) finds every pair that can pass, then each candidate is scored exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace instruct {

struct DedupPair {
  int32_t i = 0, j = 0;  // indices into the texts given, i < j
  double score = 0;      // cosine similarity of the TF-IDF vectors
};

// The text the vectorizer sees, as code points: Python's text.lower(), then re.sub(r"[^\w\s]", "",
// ...), then scikit-learn's char analyzer's re.sub(r"\s\s+", " ", ...).
std::u32string dedup_normalize(std::string_view text);

// Every pair (i < j) of texts whose similarity is above `threshold`, sorted by (i, j). Empty texts
// take no part (as the reference, which vectorizes the non-empty ones only); a pair with a text of
// one character or less is never reported. `progress`, when set, is called now and then with
// (texts searched, texts to search), from the calling thread.
//
// Two searches share the work. Long texts ("dense": most of their norm in the `head` most frequent
// n-grams, the rest below `dense_below`) are compared to all by the head dot products (GEMM) and a
// bound on the rest; the others by prefix filtering over an inverted index. Both end with the exact
// score, so the tuning changes the speed only (tests set it to reach both paths on small data).
struct DedupTuning {
  int32_t head = 1024;
  double dense_below = 0.6;
};
std::vector<DedupPair> near_duplicates(std::span<const std::string> texts, double threshold,
                                       const std::function<void(size_t, size_t)>& progress = {},
                                       const DedupTuning& tuning = {});

// The same pairs by comparing every pair (for tests: the index must find exactly these).
std::vector<DedupPair> near_duplicates_all_pairs(std::span<const std::string> texts,
                                                 double threshold);

}  // namespace instruct
