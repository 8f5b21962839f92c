// The objectives by name, and the named-metrics helper they share.
#include <cmath>

#include "core/error.hpp"
#include "train/objective.hpp"
#include "train/preference.hpp"
#include "train/sft.hpp"

namespace instruct {

double metric(const Metrics& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  return std::nan("");
}

// The registry: a new objective is its own file and one line here (and its name among the
// choices of "objective" in train/options.hpp).
std::unique_ptr<Objective> objective_create(const ObjectiveContext& c) {
  const std::string& name = c.opt.objective;
  if (name == "sft") return sft_objective_create(c);
  if (name == "dpo") return preference_objective_create(c);
  fail("the objective ", name, " is unknown; use sft or dpo");
}

}  // namespace instruct
