// Ratings from pairwise human votes, as a chatbot arena reports them: a Bradley-Terry fit to all
// votes (a tie or "both bad" counts one half for each side) on the Elo scale, with 95% intervals
// from a bootstrap over the votes, and the vote count of every pair.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace instruct {

struct PairVote {
  int32_t a = 0, b = 0;  // model indices
  double score = 0.5;    // 1: a won, 0: b won, 0.5: a tie or both bad
};

struct Rating {
  std::string model;
  double score = 1000, lo = 1000, hi = 1000;  // Elo scale: 400 log10 of the strength, mean 1000
  int64_t votes = 0, wins = 0, losses = 0, ties = 0;
};

// Bradley-Terry strengths by the MM algorithm (Hunter 2004), on the Elo scale with mean 1000. A
// pseudo-vote of 0.1 tie between every pair keeps a model that never won finite.
std::vector<double> bradley_terry(int32_t models, const std::vector<PairVote>& votes);

// The fit, its 95% bootstrap interval (`rounds` resamples of the votes, seeded) and the counts;
// sorted by score, best first.
std::vector<Rating> ratings(const std::vector<std::string>& models,
                            const std::vector<PairVote>& votes, int32_t rounds = 500,
                            uint64_t seed = 42);

}  // namespace instruct
