// The pairwise prompt, verdict parsing and AlpacaEval's win rates.
#include "judge/pairwise.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.hpp"

namespace instruct {

std::string pairwise_prompt(const std::string& instruction, const std::string& input,
                            const std::string& reference, const std::string& first,
                            const std::string& second) {
  std::string p =
      "You compare two responses to the same instruction and say which one completes it better: "
      "which is more correct, helpful and to the point.\n\n### Instruction:\n" +
      instruction;
  if (!input.empty()) p += "\n\n### Input:\n" + input;
  if (!reference.empty()) p += "\n\n### A correct answer, for reference:\n" + reference;
  p += "\n\n### Response 1:\n" + first + "\n\n### Response 2:\n" + second +
       "\n\nWhich response is better? Answer with 1, 2 or tie only.";
  return p;
}

int pairwise_parse(const std::string& reply, bool* exact) {
  std::string s;
  for (char c : reply) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // exact: trimmed of spaces, quotes, asterisks and a final period
  auto strip = [](std::string t) {
    const char* junk = " \t\r\n\"'`*.";
    const size_t a = t.find_first_not_of(junk);
    if (a == std::string::npos) return std::string();
    return t.substr(a, t.find_last_not_of(junk) - a + 1);
  };
  const std::string t = strip(s);
  *exact = true;
  if (t == "1" || t == "response 1") return 1;
  if (t == "2" || t == "response 2") return 2;
  if (t == "tie" || t == "a tie") return 0;
  *exact = false;
  // In prose: the first of "response 1/2", a lone digit 1/2, "tie", "equal".
  size_t best = std::string::npos;
  int verdict = -1;
  auto consider = [&](size_t at, int v) {
    if (at != std::string::npos && (best == std::string::npos || at < best)) best = at, verdict = v;
  };
  for (const char* w : {"response 1", "response 2"}) consider(s.find(w), w[9] - '0');
  for (size_t i = 0; i < s.size(); i++) {
    if ((s[i] == '1' || s[i] == '2') &&
        (i == 0 || !std::isalnum(static_cast<unsigned char>(s[i - 1]))) &&
        (i + 1 == s.size() || !std::isalnum(static_cast<unsigned char>(s[i + 1])))) {
      consider(i, s[i] - '0');
      break;
    }
  }
  for (const char* w : {"tie", "equal"}) {
    for (size_t at = s.find(w); at != std::string::npos; at = s.find(w, at + 1)) {
      const bool word = (at == 0 || !std::isalpha(static_cast<unsigned char>(s[at - 1]))) &&
                        (at + std::string(w).size() >= s.size() ||
                         !std::isalpha(static_cast<unsigned char>(s[at + std::string(w).size()])));
      if (word) {
        consider(at, 0);
        break;
      }
    }
  }
  return verdict;
}

double pairwise_preference(int verdict_ab, int verdict_ba) {
  // A first: verdict 2 is B; B first: verdict 1 is B.
  auto pref = [](int v, int b_is) { return v == 0 ? 0.5 : v == b_is ? 1.0 : 0.0; };
  return (pref(verdict_ab, 2) + pref(verdict_ba, 1)) / 2;
}

WinRate win_rates(const std::vector<double>& p, const std::vector<double>& len_a,
                  const std::vector<double>& len_b) {
  WinRate w;
  const size_t n = p.size();
  if (n == 0 || len_a.size() != n || len_b.size() != n)
    fail("internal: win_rates of ", n, " preferences");
  double sum = 0;
  for (double x : p) {
    sum += x;
    w.wins += x > 0.5, w.losses += x < 0.5, w.draws += x == 0.5;
  }
  const double mean = sum / n;
  double ss = 0;
  for (double x : p) ss += (x - mean) * (x - mean);
  w.win_rate = 100 * mean;
  w.standard_error =
      n > 1 ? 100 * std::sqrt(ss / (n - 1)) / std::sqrt(static_cast<double>(n)) : NAN;
  // The length feature: tanh of the standardized length difference (pandas' std, ddof 1).
  std::vector<double> d(n), x(n);
  double dm = 0;
  for (size_t i = 0; i < n; i++) d[i] = len_a[i] - len_b[i], dm += d[i] / n;
  double dss = 0;
  for (double v : d) dss += (v - dm) * (v - dm);
  const double sd = n > 1 ? std::sqrt(dss / (n - 1)) : 0;
  for (size_t i = 0; i < n; i++) x[i] = sd > 0 ? std::tanh(d[i] / sd) : 0;
  // Logistic regression with soft labels, two weights (length, constant), Newton's method. A tiny
  // ridge keeps separable data (B always wins) finite.
  double a = 0, b = 0;
  const double ridge = 1e-10;
  for (int it = 0; it < 100; it++) {
    double g0 = ridge * a, g1 = ridge * b, h00 = ridge, h01 = 0, h11 = ridge;
    for (size_t i = 0; i < n; i++) {
      const double z = a * x[i] + b, q = 1 / (1 + std::exp(-z)), r = q - p[i], s = q * (1 - q);
      g0 += r * x[i], g1 += r;
      h00 += s * x[i] * x[i], h01 += s * x[i], h11 += s;
    }
    const double det = h00 * h11 - h01 * h01;
    if (!(det > 0)) break;
    const double da = (h11 * g0 - h01 * g1) / det, db = (h00 * g1 - h01 * g0) / det;
    a -= da, b -= db;
    if (std::abs(da) + std::abs(db) < 1e-12) break;
  }
  w.length_coef = a, w.model_coef = b;
  w.lc_win_rate = 100 / (1 + std::exp(-b));
  return w;
}

}  // namespace instruct
