// Bradley-Terry by minorization-maximization: p_i <- W_i / sum_j n_ij / (p_i + p_j).
#include "judge/ratings.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace instruct {

std::vector<double> bradley_terry(int32_t k, const std::vector<PairVote>& votes) {
  if (k <= 0) return {};
  // n[i][j]: games between i and j; w[i]: i's wins (ties count one half each side).
  constexpr double kPrior = 0.1;
  std::vector<double> n(static_cast<size_t>(k) * k, 0.0), w(k, 0.0);
  for (int32_t i = 0; i < k; i++)
    for (int32_t j = 0; j < k; j++)
      if (i != j) n[i * k + j] += kPrior, w[i] += kPrior / 2;
  for (const PairVote& v : votes) {
    if (v.a == v.b) continue;
    n[v.a * k + v.b] += 1, n[v.b * k + v.a] += 1;
    w[v.a] += v.score, w[v.b] += 1 - v.score;
  }
  std::vector<double> p(k, 1.0), next(k);
  for (int it = 0; it < 10000; it++) {
    double change = 0;
    for (int32_t i = 0; i < k; i++) {
      double d = 0;
      for (int32_t j = 0; j < k; j++)
        if (j != i) d += n[i * k + j] / (p[i] + p[j]);
      next[i] = d > 0 ? w[i] / d : p[i];
    }
    double logmean = 0;
    for (double x : next) logmean += std::log(x) / k;
    for (int32_t i = 0; i < k; i++) {
      const double v = next[i] / std::exp(logmean);
      change = std::max(change, std::abs(std::log(v / p[i])));
      p[i] = v;
    }
    if (change < 1e-12) break;
  }
  std::vector<double> elo(k);
  for (int32_t i = 0; i < k; i++) elo[i] = 1000 + 400 * std::log10(p[i]);
  return elo;
}

std::vector<Rating> ratings(const std::vector<std::string>& models,
                            const std::vector<PairVote>& votes, int32_t rounds, uint64_t seed) {
  const int32_t k = static_cast<int32_t>(models.size());
  std::vector<Rating> out(k);
  const std::vector<double> fit = bradley_terry(k, votes);
  for (int32_t i = 0; i < k; i++) out[i].model = models[i], out[i].score = fit[i];
  for (const PairVote& v : votes) {
    out[v.a].votes++, out[v.b].votes++;
    if (v.score == 1)
      out[v.a].wins++, out[v.b].losses++;
    else if (v.score == 0)
      out[v.b].wins++, out[v.a].losses++;
    else
      out[v.a].ties++, out[v.b].ties++;
  }
  // Bootstrap: resample the votes with replacement, refit, take the 2.5th and 97.5th percentiles.
  std::vector<std::vector<double>> samples(k);
  std::mt19937_64 rng(seed);
  std::vector<PairVote> resample(votes.size());
  for (int32_t r = 0; r < rounds && !votes.empty(); r++) {
    std::uniform_int_distribution<size_t> pick(0, votes.size() - 1);
    for (PairVote& v : resample) v = votes[pick(rng)];
    const std::vector<double> s = bradley_terry(k, resample);
    for (int32_t i = 0; i < k; i++) samples[i].push_back(s[i]);
  }
  for (int32_t i = 0; i < k; i++) {
    auto& s = samples[i];
    if (s.empty()) {
      out[i].lo = out[i].hi = out[i].score;
      continue;
    }
    std::sort(s.begin(), s.end());
    auto at = [&](double q) {
      return s[std::min(s.size() - 1, static_cast<size_t>(q * (s.size() - 1) + 0.5))];
    };
    out[i].lo = at(0.025), out[i].hi = at(0.975);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Rating& a, const Rating& b) { return a.score > b.score; });
  return out;
}

}  // namespace instruct
