// Saved options as JSON: visitors over an option list (core/options) that write each option at
// its dotted key ("data.batch_size") and read it back, a missing key keeping the default (so files
// written before an option existed still load). Used by checkpoints and model directories.
#pragma once

#include <climits>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "core/error.hpp"
#include "core/options.hpp"

namespace instruct {

// The JSON node at a dotted path, created as needed; or found (nullptr when absent).
nlohmann::ordered_json& json_at(nlohmann::ordered_json& j, const char* path);
// An integer JSON value within [lo, hi], or nullopt-like failure: false when it is not an integer
// or lies outside (no wrap-around: 2^32 + 5 is not 5).
template <class J>
bool json_int_in(const J& v, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.template get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX) || static_cast<int64_t>(u) > hi ||
        static_cast<int64_t>(u) < lo)
      return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  const int64_t s = v.template get<int64_t>();
  if (s < lo || s > hi) return false;
  *out = s;
  return true;
}
const nlohmann::json* json_find(const nlohmann::json& j, const char* path);

struct OptionsWriter {
  nlohmann::ordered_json& j;
  template <class T>
  void operator()(const OptSpec& s, const T& v) const {
    if (!s.key) return;
    if constexpr (std::is_same_v<T, std::filesystem::path>)
      json_at(j, s.key) =
          v.empty() ? std::string() : std::filesystem::absolute(v).lexically_normal().string();
    else
      json_at(j, s.key) = v;
  }
};

struct OptionsReader {
  const nlohmann::json& j;
  const std::filesystem::path& file;
  template <class T>
  void operator()(const OptSpec& s, T& v) const {
    if (!s.key) return;
    const nlohmann::json* node = json_find(j, s.key);
    if (!node) return;  // written before this option existed: the default
    auto damaged = [&] {
      fail(file.string(), ": option \"", s.key, "\" is ", node->dump(),
           ", not a value of its type; the file is "
           "damaged (for a checkpoint: resume from an older one)");
    };
    // Integers checked: nlohmann's get<int> of 1e42 is undefined behaviour, of 2^40 a wrap.
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      int64_t x = 0;
      const int64_t hi =
          static_cast<uint64_t>(std::numeric_limits<T>::max()) > static_cast<uint64_t>(INT64_MAX)
              ? INT64_MAX
              : static_cast<int64_t>(std::numeric_limits<T>::max());
      if (!json_int_in(*node, static_cast<int64_t>(std::numeric_limits<T>::min()), hi, &x))
        damaged();
      v = static_cast<T>(x);
    } else {
      try {
        if constexpr (std::is_same_v<T, std::filesystem::path>)
          v = node->get<std::string>();
        else
          v = node->get<T>();
      } catch (const nlohmann::json::exception&) {
        damaged();
      }
    }
  }
};

}  // namespace instruct
