// Preference losses on per-sequence log-probabilities (the book's DPO bonus and its cousins; the
// formulas are in ../shared/REFERENCE.md). With pc, pr the policy's log-probabilities of the
// chosen and rejected answers (per-token means in the book's setup) and rc, rr the reference's,
// h = (pc - pr) - (rc - rr):
//   dpo     -log sigmoid(beta h)
//   robust  -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)   (label smoothing eps)
//   hinge   relu(1 - beta h)                                            (SLiC)
//   ipo     (h - 1 / (2 beta))^2
//   simpo   -log sigmoid(beta (pc - pr) - gamma)                         (no reference)
//   orpo    -pc + lambda * -log sigmoid(log_odds), log_odds = (pc - pr) - (log(1 - e^pc) - log(1 -
//   e^pr))
//                                                                        (no reference)
// Each gives the loss of one pair, its gradient with respect to pc and pr, and the rewards the book
// reports (pc - rc and pr - rr, not scaled by beta; without a reference pc and pr). No model here.
#pragma once

#include <string>

namespace instruct {

enum class PrefLoss { kDpo, kRobust, kHinge, kIpo, kSimpo, kOrpo };
PrefLoss pref_loss_parse(const std::string& name);  // fails listing the names
const char* pref_loss_name(PrefLoss k);
bool pref_loss_needs_reference(PrefLoss k);  // false for simpo and orpo

struct PrefLossParams {
  double beta = 0.1;
  double label_smoothing = 0;  // robust: eps
  double gamma = 0.5;          // simpo: the target margin
  double lambda = 0.1;         // orpo: weight of the odds-ratio term
};

struct PairLoss {
  double loss = 0;
  double d_chosen = 0, d_rejected = 0;  // dloss/dpc, dloss/dpr
  double reward_chosen = 0, reward_rejected = 0;
};
PairLoss pref_pair_loss(PrefLoss k, const PrefLossParams& p, double pc, double pr, double rc,
                        double rr);

}  // namespace instruct
