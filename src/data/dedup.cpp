// TF-IDF vectors as scikit-learn's TfidfVectorizer(analyzer="char", ngram_range=(1, 3)) builds
// them (float64, smooth idf, L2 rows), and an exact all-pairs similarity search over them:
// for unit vectors, x.y <= |S(y)| when x shares nothing with y's prefix P(y), the part left once
// the longest tail S(y) with |S(y)| < t is cut off (features in rarest-first order). So a pair
// above t shares a feature of P(x) and one of P(y), and then (the orders agree) one of both
// prefixes: only prefixes are indexed and probed. The partial dot A over shared prefix features
// plus |S(x)| + |S(y)| bounds the rest; candidates that can pass are scored in full.
#include "data/dedup.hpp"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "text/utf8.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace instruct {

namespace {

// re's \w on str patterns: str.isalnum() (letters, and anything with a numeric value) or '_'.
bool py_isword(UChar32 c) {
  return c == '_' || u_isalpha(c) || u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

// One vectorized field: document d is texts[doc[d]]; its features [start[d], start[d+1]) are
// (rank, weight) sorted by rank, rank 0 being the n-gram in fewest documents.
struct Vectors {
  std::vector<int32_t> doc;
  std::vector<int64_t> start{0};
  std::vector<int32_t> rank;
  std::vector<double> w;
  std::vector<bool> reportable;  // raw text longer than one character
  int32_t n_features = 0;

  size_t size() const { return doc.size(); }
  double dot(size_t a, size_t b) const {
    int64_t i = start[a], j = start[b];
    const int64_t ie = start[a + 1], je = start[b + 1];
    double s = 0;
    while (i < ie && j < je) {
      if (rank[i] < rank[j]) {
        i++;
      } else if (rank[j] < rank[i]) {
        j++;
      } else {
        s += w[i++] * w[j++];
      }
    }
    return s;
  }
};

// Character n-grams of one text with their counts, keyed by code points (21 bits each, +1 so that
// lengths 1, 2 and 3 never collide).
std::vector<std::pair<uint64_t, int32_t>> char_ngrams(std::u32string_view s) {
  std::vector<uint64_t> keys;
  const size_t n = s.size();
  keys.reserve(3 * n);
  for (size_t i = 0; i < n; i++) {
    const uint64_t a = s[i];
    keys.push_back(a);
    if (i + 1 < n) keys.push_back(a | (uint64_t{s[i + 1]} + 1) << 21);
    if (i + 2 < n)
      keys.push_back(a | (uint64_t{s[i + 1]} + 1) << 21 | (uint64_t{s[i + 2]} + 1) << 42);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::pair<uint64_t, int32_t>> out;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    while (j < keys.size() && keys[j] == keys[i]) j++;
    out.emplace_back(keys[i], static_cast<int32_t>(j - i));
    i = j;
  }
  return out;
}

Vectors vectorize(std::span<const std::string> texts) {
  Vectors v;
  for (size_t i = 0; i < texts.size(); i++)
    if (!texts[i].empty()) v.doc.push_back(static_cast<int32_t>(i));
  const size_t n = v.doc.size();
  std::vector<std::vector<std::pair<uint64_t, int32_t>>> grams(n);
  v.reportable.resize(n);
#pragma omp parallel for schedule(dynamic, 256)
  for (size_t d = 0; d < n; d++) grams[d] = char_ngrams(dedup_normalize(texts[v.doc[d]]));
  for (size_t d = 0; d < n; d++) {
    const std::string& t = texts[v.doc[d]];
    v.reportable[d] =
        std::count_if(t.begin(), t.end(), [](char c) { return (c & 0xC0) != 0x80; }) > 1;
  }
  // Vocabulary and document frequencies; the n-gram keys become feature ids in place.
  std::unordered_map<uint64_t, int32_t> vocab;
  std::vector<int32_t> df;
  for (auto& g : grams) {
    for (auto& [key, count] : g) {
      auto [it, added] = vocab.try_emplace(key, static_cast<int32_t>(df.size()));
      if (added) df.push_back(0);
      df[it->second]++;
      key = static_cast<uint64_t>(it->second);
    }
  }
  v.n_features = static_cast<int32_t>(df.size());
  std::vector<int32_t> by_rarity(df.size()), rank_of(df.size());
  std::iota(by_rarity.begin(), by_rarity.end(), 0);
  std::sort(by_rarity.begin(), by_rarity.end(),
            [&](int32_t a, int32_t b) { return df[a] != df[b] ? df[a] < df[b] : a < b; });
  for (size_t r = 0; r < by_rarity.size(); r++) rank_of[by_rarity[r]] = static_cast<int32_t>(r);
  std::vector<double> idf(df.size());
  for (size_t f = 0; f < df.size(); f++)
    idf[f] = std::log((1.0 + static_cast<double>(n)) / (1.0 + df[f])) + 1.0;
  for (size_t d = 0; d < n; d++) {
    std::vector<std::pair<int32_t, double>> row;
    double norm2 = 0;
    for (const auto& [id, count] : grams[d]) {
      const double x = count * idf[id];
      row.emplace_back(rank_of[id], x);
      norm2 += x * x;
    }
    std::sort(row.begin(), row.end());
    const double norm = norm2 > 0 ? std::sqrt(norm2) : 1.0;
    for (const auto& [r, x] : row) {
      v.rank.push_back(r);
      v.w.push_back(x / norm);
    }
    v.start.push_back(static_cast<int64_t>(v.rank.size()));
    std::vector<std::pair<uint64_t, int32_t>>().swap(grams[d]);
  }
  return v;
}

void add_pair(const Vectors& v, size_t a, size_t b, double threshold, std::vector<DedupPair>& out) {
  if (!v.reportable[a] || !v.reportable[b]) return;
  const double s = v.dot(a, b);
  if (s > threshold) out.push_back({v.doc[a], v.doc[b], s});
}

std::vector<DedupPair> sorted(std::vector<DedupPair> pairs) {
  std::sort(pairs.begin(), pairs.end(), [](const DedupPair& a, const DedupPair& b) {
    return a.i != b.i ? a.i < b.i : a.j < b.j;
  });
  return pairs;
}

}  // namespace

std::u32string dedup_normalize(std::string_view text) {
  icu::UnicodeString s = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  s.toLower(icu::Locale::getRoot());  // full case mapping with final sigma, as str.lower()
  std::u32string kept;
  for (int32_t i = 0; i < s.length();) {
    const UChar32 c = s.char32At(i);
    i += U16_LENGTH(c);
    if (py_isword(c) || py_isspace(static_cast<uint32_t>(c)))
      kept.push_back(static_cast<char32_t>(c));
  }
  std::u32string out;  // a run of two or more spaces becomes one " "; a single one stays as it is
  for (size_t i = 0; i < kept.size();) {
    size_t j = i;
    while (j < kept.size() && py_isspace(kept[j])) j++;
    if (j - i >= 2) {
      out.push_back(U' ');
      i = j;
    } else {
      out.push_back(kept[i++]);
    }
  }
  return out;
}

std::vector<DedupPair> near_duplicates(std::span<const std::string> texts, double threshold,
                                       const std::function<void(size_t, size_t)>& progress,
                                       const DedupTuning& tuning) {
  if (!(threshold >= 0 && threshold <= 1))
    fail("--threshold ", threshold, " is out of range; give a similarity from 0 to 1");
  const Vectors v = vectorize(texts);
  const size_t n = v.size();
  const int32_t head = std::min(tuning.head, v.n_features), head_rank = v.n_features - head;
  // Per document: the squared norm of its tail from each position (suf2), its head as a dense
  // row, and the norm of the rest (low).
  std::vector<double> suf2(v.w.size() + 1, 0.0), low(n);
  std::vector<bool> dense(n);
  std::vector<int32_t> by_density;  // the dense documents, then the other reportable ones
  for (size_t d = 0; d < n; d++) {
    double s = 0, lo = 0;
    for (int64_t k = v.start[d + 1] - 1; k >= v.start[d]; k--) {
      suf2[k] = s += v.w[k] * v.w[k];
      if (v.rank[k] < head_rank) lo += v.w[k] * v.w[k];
    }
    low[d] = std::sqrt(lo);
    dense[d] = v.reportable[d] && low[d] < tuning.dense_below;
    if (dense[d]) by_density.push_back(static_cast<int32_t>(d));
  }
  const size_t n_dense = by_density.size();
  for (size_t d = 0; d < n; d++)
    if (v.reportable[d] && !dense[d]) by_density.push_back(static_cast<int32_t>(d));
  std::vector<float> heads(by_density.size() * static_cast<size_t>(head),
                           0.0f);  // rows in by_density order
  for (size_t p = 0; p < by_density.size(); p++) {
    const size_t d = static_cast<size_t>(by_density[p]);
    for (int64_t k = v.start[d]; k < v.start[d + 1]; k++)
      if (v.rank[k] >= head_rank)
        heads[p * head + (v.rank[k] - head_rank)] = static_cast<float>(v.w[k]);
  }
  std::vector<DedupPair> pairs;
  size_t done = 0;
  const auto report = [&](size_t k) {
    if (progress) progress(std::min(k, n), n);
  };

  // Sparse documents: prefix filtering. The prefix keeps what is left once the longest tail with
  // squared norm below t^2 is cut off (a margin for rounding keeps the tail never too long).
  const double bound = threshold * threshold * (1 - 1e-9);
  std::vector<int64_t> prefix_end(n);
  std::vector<int32_t> tail_rank(n);  // rank of the first tail feature (n_features: no tail)
  std::vector<int64_t> post_start(static_cast<size_t>(v.n_features) + 1, 0);
  for (size_t d = 0; d < n; d++) {
    int64_t k = v.start[d + 1];
    while (k > v.start[d] && suf2[k - 1] < bound) k--;
    prefix_end[d] = k;
    tail_rank[d] = k < v.start[d + 1] ? v.rank[k] : v.n_features;
    if (!v.reportable[d] || dense[d]) continue;
    for (int64_t f = v.start[d]; f < k; f++) post_start[v.rank[f] + 1]++;
  }
  std::partial_sum(post_start.begin(), post_start.end(), post_start.begin());
  std::vector<int32_t> post_doc(static_cast<size_t>(post_start.back()));
  std::vector<double> post_w(post_doc.size());
  {
    std::vector<int64_t> fill(post_start.begin(), post_start.end() - 1);
    for (size_t d = 0; d < n; d++) {
      if (!v.reportable[d] || dense[d]) continue;
      for (int64_t f = v.start[d]; f < prefix_end[d]; f++) {
        const int64_t p = fill[v.rank[f]]++;
        post_doc[p] = static_cast<int32_t>(d);  // each list in document order
        post_w[p] = v.w[f];
      }
    }
  }
  // The norm of document d's features of rank >= r.
  const auto norm_from = [&](size_t d, int32_t r) {
    const int32_t* b = v.rank.data() + v.start[d];
    const int64_t k = std::lower_bound(b, v.rank.data() + v.start[d + 1], r) - v.rank.data();
    return std::sqrt(suf2[k]);
  };
#pragma omp parallel
  {
    std::vector<double> acc(n, 0.0);
    std::vector<int32_t> touched;
    std::vector<DedupPair> mine;
#pragma omp for schedule(dynamic, 64) nowait
    for (size_t x = 0; x < n; x++) {
      if (v.reportable[x] && !dense[x]) {
        for (int64_t f = v.start[x]; f < prefix_end[x]; f++) {
          const int32_t r = v.rank[f];
          const double wx = v.w[f];
          const int32_t* first = post_doc.data() + post_start[r];
          const int32_t* last = post_doc.data() + post_start[r + 1];
          for (const int32_t* p = std::upper_bound(first, last, static_cast<int32_t>(x)); p < last;
               p++) {
            if (acc[*p] == 0) touched.push_back(*p);
            acc[*p] += wx * post_w[p - post_doc.data()];
          }
        }
        // acc is the dot over ranks below b, where both vectors are whole; the rest is at most
        // |x from b| |y from b|.
        for (const int32_t y : touched) {
          const int32_t b = std::min(tail_rank[x], tail_rank[y]);
          if (acc[y] + norm_from(x, b) * norm_from(y, b) > threshold - 1e-9)
            add_pair(v, x, static_cast<size_t>(y), threshold, mine);
          acc[y] = 0;
        }
        touched.clear();
      }
#ifdef _OPENMP
      if (omp_get_thread_num() == 0 && x % 1024 == 0) report(x / 2);
#endif
    }
#pragma omp critical
    pairs.insert(pairs.end(), mine.begin(), mine.end());
  }
  done = n / 2;
  report(done);

  // Dense documents (long texts, whose norm sits in the common n-grams) against the documents after
  // them in by_density order (the later dense ones, all sparse ones): the head dot products by
  // GEMM; x.y <= head(x).head(y) + low(x) low(y) leaves few to score in full.
  const size_t n_cols = by_density.size();
  constexpr int64_t kRows = 512, kCols = 4096;
  std::vector<float> c(kRows * kCols);
  for (size_t r0 = 0; r0 < n_dense; r0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, static_cast<int64_t>(n_dense - r0));
    for (size_t c0 = r0; c0 < n_cols; c0 += kCols) {
      const int64_t cols = std::min<int64_t>(kCols, static_cast<int64_t>(n_cols - c0));
      gemm(c.data(), heads.data() + r0 * head, heads.data() + c0 * head, nullptr,
           {.M = rows, .N = cols, .K = head, .trans_b = true, .ldc = kCols});
#pragma omp parallel
      {
        std::vector<DedupPair> mine;
        std::vector<double> xs(static_cast<size_t>(v.n_features), 0.0);  // x scattered by rank
#pragma omp for schedule(dynamic, 16) nowait
        for (int64_t r = 0; r < rows; r++) {
          const size_t x = static_cast<size_t>(by_density[r0 + r]);
          const float* row = c.data() + r * kCols;
          for (int64_t k = v.start[x]; k < v.start[x + 1]; k++) xs[v.rank[k]] = v.w[k];
          for (int64_t k = std::max<int64_t>(
                   0, static_cast<int64_t>(r0) + r + 1 - static_cast<int64_t>(c0));
               k < cols; k++) {
            const size_t y = static_cast<size_t>(by_density[c0 + k]);
            // float32 head dots: 1e-4 covers their rounding.
            if (row[k] + low[x] * low[y] <= threshold - 1e-4) continue;
            double s = 0;
            for (int64_t f = v.start[y]; f < v.start[y + 1]; f++) s += xs[v.rank[f]] * v.w[f];
            if (s > threshold) mine.push_back({v.doc[std::min(x, y)], v.doc[std::max(x, y)], s});
          }
          for (int64_t k = v.start[x]; k < v.start[x + 1]; k++) xs[v.rank[k]] = 0;
        }
#pragma omp critical
        pairs.insert(pairs.end(), mine.begin(), mine.end());
      }
    }
    report(done + (r0 + rows) * (n - done) / n_dense);
  }
  report(n);
  return sorted(std::move(pairs));
}

std::vector<DedupPair> near_duplicates_all_pairs(std::span<const std::string> texts,
                                                 double threshold) {
  const Vectors v = vectorize(texts);
  std::vector<DedupPair> pairs;
  for (size_t a = 0; a < v.size(); a++)
    for (size_t b = a + 1; b < v.size(); b++) add_pair(v, a, b, threshold, pairs);
  return sorted(std::move(pairs));
}

}  // namespace instruct
