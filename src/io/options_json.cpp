// Dotted paths into JSON objects.
#include "io/options_json.hpp"

#include <cstring>
#include <string>

namespace instruct {

nlohmann::ordered_json& json_at(nlohmann::ordered_json& j, const char* path) {
  nlohmann::ordered_json* node = &j;
  for (const char *p = path, *dot; *p; p = dot ? dot + 1 : p + std::strlen(p)) {
    dot = std::strchr(p, '.');
    node = &(*node)[std::string(p, dot ? dot - p : std::strlen(p))];
    if (!dot) break;
  }
  return *node;
}

const nlohmann::json* json_find(const nlohmann::json& j, const char* path) {
  const nlohmann::json* node = &j;
  for (const char *p = path, *dot;; p = dot + 1) {
    dot = std::strchr(p, '.');
    const std::string key(p, dot ? dot - p : std::strlen(p));
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
    if (!dot) return node;
  }
}

}  // namespace instruct
