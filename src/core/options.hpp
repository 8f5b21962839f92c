// One declaration per option (gemma.cpp's ForEach, llama.cpp's common_arg): its flag, its key in
// saved JSON, its help, whether a resume may change it, and the range its value must lie in. The
// option structs list their fields once in a *_visit function; visitors over that list register
// the CLI flags, write and read checkpoint JSON, merge a resume's flags and validate values.
// Knows nothing of CLI11 or JSON libraries: those visitors live with their users.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <type_traits>

#include "core/error.hpp"

namespace instruct {

struct OptSpec {
  const char* flag = nullptr;  // "lr" for --lr; nullptr: not on the command line
  const char* key =
      nullptr;  // dotted path in the saved options: "data.batch_size"; nullptr: not saved
  const char* help = "";
  bool resumable = false;  // may be given again with --resume (how long to run, where to write)
  bool negated = false;    // a bool its flag sets to false (--no-shuffle)
  double min = -HUGE_VAL, max = HUGE_VAL;  // numeric range, inclusive
  bool positive = false;                   // strictly above zero
  const char* command = nullptr;  // only on this subcommand's command line ("dpo"); nullptr: all
  const char* alias = nullptr;    // other names, comma-separated: "n" for -n, "dtype" for --dtype
  const char* choices = nullptr;  // a string's allowed values, "fp32|bf16"; nullptr: any
  bool required = false;          // a flag that must be given; a saved key every version writes
};

// Whether `v` is one of the '|'-separated `choices`.
bool opt_is_choice(const char* choices, const std::string& v);

// What a valid value of this option looks like: "a value > 0", "a value from 0 to 1", "1 or more".
std::string opt_range_text(const OptSpec& s);

// Fails (one line naming the flag and the valid range) when a numeric value is NaN, infinite or
// outside the declared range, and when a string is not one of its declared choices. Other strings,
// paths and bools pass.
template <class T>
void opt_check(const OptSpec& s, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (s.choices && !opt_is_choice(s.choices, v)) {
      std::string list = s.choices;
      for (char& c : list)
        if (c == '|') c = ',';
      fail("--", s.flag ? s.flag : s.key, " ", v, " is unknown; use one of ", list);
    }
  }
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    const double d = static_cast<double>(v);
    if (!std::isfinite(d) || d < s.min || d > s.max || (s.positive && !(d > 0)))
      fail("--", s.flag ? s.flag : s.key, " ", v, " is invalid; use ", opt_range_text(s));
  }
}

// A visitor that validates every option it is shown (use with the *_visit functions).
struct OptChecker {
  template <class T>
  void operator()(const OptSpec& s, const T& v) const {
    opt_check(s, v);
  }
};

}  // namespace instruct
