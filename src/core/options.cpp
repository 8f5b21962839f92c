// The range text of an option, for its error message and its --help line.
#include "core/options.hpp"

#include <string_view>

#include <cstdio>

namespace instruct {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string opt_range_text(const OptSpec& s) {
  const bool has_min = s.min != -HUGE_VAL, has_max = s.max != HUGE_VAL;
  if (s.positive && has_max) return "a value > 0 and at most " + num(s.max);
  if (s.positive) return "a value > 0";
  if (has_min && has_max) return "a value from " + num(s.min) + " to " + num(s.max);
  if (has_min) return num(s.min) + " or more";
  if (has_max) return num(s.max) + " or less";
  return "a finite number";
}

bool opt_is_choice(const char* choices, const std::string& v) {
  std::string_view rest = choices;
  while (true) {
    const size_t bar = rest.find('|');
    if (rest.substr(0, bar) == v) return true;
    if (bar == std::string_view::npos) return false;
    rest.remove_prefix(bar + 1);
  }
}

}  // namespace instruct
