// log sigmoid and its derivative written to stay finite for large |x|.
#include "train/preference_loss.hpp"

#include <cmath>

#include "core/error.hpp"

namespace instruct {

namespace {

constexpr const char* kNames[] = {"dpo", "robust", "hinge", "ipo", "simpo", "orpo"};

double log_sigmoid(double x) {
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}
double sigmoid(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}
// log(1 - e^x) for x < 0.
double log1m_exp(double x) {
  return x > -0.693 ? std::log(-std::expm1(x)) : std::log1p(-std::exp(x));
}

}  // namespace

PrefLoss pref_loss_parse(const std::string& name) {
  for (int i = 0; i < 6; i++)
    if (name == kNames[i]) return static_cast<PrefLoss>(i);
  fail("--loss ", name, " is unknown; use dpo, ipo, hinge, robust, simpo or orpo");
}

const char* pref_loss_name(PrefLoss k) {
  return kNames[static_cast<int>(k)];
}

bool pref_loss_needs_reference(PrefLoss k) {
  return k != PrefLoss::kSimpo && k != PrefLoss::kOrpo;
}

PairLoss pref_pair_loss(PrefLoss k, const PrefLossParams& p, double pc, double pr, double rc,
                        double rr) {
  PairLoss r;
  const double b = p.beta;
  if (pref_loss_needs_reference(k)) {
    r.reward_chosen = pc - rc, r.reward_rejected = pr - rr;
    const double h = (pc - pr) - (rc - rr);
    double dh = 0;  // dloss/dh; dh/dpc = 1, dh/dpr = -1
    switch (k) {
      case PrefLoss::kDpo:
        r.loss = -log_sigmoid(b * h);
        dh = -b * sigmoid(-b * h);
        break;
      case PrefLoss::kRobust: {
        const double e = p.label_smoothing;
        r.loss = -(1 - e) * log_sigmoid(b * h) - e * log_sigmoid(-b * h);
        dh = -(1 - e) * b * sigmoid(-b * h) + e * b * sigmoid(b * h);
        break;
      }
      case PrefLoss::kHinge:
        r.loss = std::max(0.0, 1 - b * h);
        dh = 1 - b * h > 0 ? -b : 0.0;
        break;
      default: {  // ipo
        const double d = h - 1 / (2 * b);
        r.loss = d * d;
        dh = 2 * d;
      }
    }
    r.d_chosen = dh, r.d_rejected = -dh;
    return r;
  }
  r.reward_chosen = pc, r.reward_rejected = pr;
  if (k == PrefLoss::kSimpo) {
    const double z = b * (pc - pr) - p.gamma;
    r.loss = -log_sigmoid(z);
    r.d_chosen = -b * sigmoid(-z);
    r.d_rejected = b * sigmoid(-z);
    return r;
  }
  // orpo: the log-probabilities are per-token means, so e^p is a probability below 1.
  const double o = (pc - pr) - (log1m_exp(pc) - log1m_exp(pr));
  r.loss = -pc - p.lambda * log_sigmoid(o);
  const double dlo = -p.lambda * sigmoid(-o);  // dloss/do
  // do/dpc = 1 + e^pc / (1 - e^pc) = 1 / (1 - e^pc); do/dpr = -1 / (1 - e^pr)
  r.d_chosen = -1 + dlo / -std::expm1(pc);
  r.d_rejected = -dlo / -std::expm1(pr);
  return r;
}

}  // namespace instruct
