// Dataset loading: the file's shape (array or JSONL) is decided by its first character; every
// error is one line with the file, the entry and the field.
#include "data/dataset.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/files.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace {

constexpr const char* kExpected =
    R"((expected {"instruction": str, "input": str, "output": str} or a chat record {"messages": [{"role": str, "content": str}, ...]}))";

// Values nested deeper than this are dropped while parsing (an entry's fields are strings; what
// holds them is 2 or 3 levels deep): copying a DOM 100,000 levels deep recurses off the stack.
constexpr int kMaxDepth = 64;

const char* json_type_name(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return "null";
    case nlohmann::ordered_json::value_t::boolean:
      return "a boolean";
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned:
    case nlohmann::ordered_json::value_t::number_float:
      return "a number";
    case nlohmann::ordered_json::value_t::string:
      return "a string";
    case nlohmann::ordered_json::value_t::array:
      return "an array";
    case nlohmann::ordered_json::value_t::object:
      return "an object";
    default:
      return "not a JSON value";
  }
}

// 1-based line and column of a byte offset.
std::string line_col(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset; i++) {
    if (text[i] == '\n')
      line++, col = 1;
    else
      col++;
  }
  return str_cat("line ", line, ", column ", col);
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line..." head.
std::string parse_reason(const nlohmann::ordered_json::parse_error& e) {
  std::string w = e.what();
  size_t p = w.rfind(": ");
  return p == std::string::npos ? w : w.substr(p + 2);
}

void check_utf8(const std::string& file, std::string_view text) {
  size_t bad = utf8_find_invalid(text);
  if (bad == std::string_view::npos) return;
  // Name the entry: count '{' at depth 1 of an array file, or lines of a JSONL file.
  size_t entry = 0, depth = 0;
  bool in_str = false, esc = false, jsonl = true;
  for (size_t i = 0; i < bad; i++) {
    char c = text[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"')
      in_str = true;
    else if (c == '[' || c == '{') {
      if (c == '[' && depth == 0) jsonl = false;
      if (c == '{' && depth == (jsonl ? 0 : 1)) entry++;
      depth++;
    } else if (c == ']' || c == '}')
      depth = depth ? depth - 1 : 0;
  }
  fail(file, entry ? str_cat(" entry ", entry - 1) : std::string(), ": invalid UTF-8 at byte ", bad,
       " (", line_col(text, bad), "); re-save the file as UTF-8");
}

}  // namespace

namespace {

// A chat record: an optional system message, then user and assistant in turn, ending with the
// assistant's answer. `list` is "messages" ({role, content}) or "conversations" (ShareGPT's {from,
// value}).
Entry chat_entry(const nlohmann::ordered_json& j, const char* list, const std::string& where) {
  const bool sharegpt = std::string_view(list) == "conversations";
  const char* role_key = sharegpt ? "from" : "role";
  const char* text_key = sharegpt ? "value" : "content";
  const nlohmann::ordered_json& msgs = j[list];
  if (!msgs.is_array() || msgs.empty())
    fail(where, ": field \"", list, "\" is ", msgs.is_array() ? "empty" : json_type_name(msgs),
         "; expected an array of {\"", role_key, "\": ..., \"", text_key, "\": ...} messages");
  Entry e;
  std::vector<std::string> said;  // user, assistant, user, assistant, ...
  for (size_t i = 0; i < msgs.size(); i++) {
    const std::string at = str_cat(where, " message ", i);
    const nlohmann::ordered_json& m = msgs[i];
    if (!m.is_object())
      fail(at, ": is ", json_type_name(m), ", not an object {\"", role_key, "\", \"", text_key,
           "\"}");
    auto role_it = m.find(role_key), text_it = m.find(text_key);
    if (role_it == m.end() || !role_it->is_string())
      fail(at, ": field \"", role_key, "\" is ",
           role_it == m.end() ? "missing" : json_type_name(*role_it), "; expected a string");
    if (text_it == m.end() || !text_it->is_string())
      fail(at, ": field \"", text_key, "\" is ",
           text_it == m.end() ? "missing" : json_type_name(*text_it), "; expected a string");
    std::string role = role_it->get<std::string>();
    if (sharegpt) role = role == "human" ? "user" : role == "gpt" ? "assistant" : role;
    const char* next = said.size() % 2 == 0 ? "user" : "assistant";
    if (role == "system" && i == 0) {
      e.system = text_it->get<std::string>();
    } else if (role == next) {
      said.push_back(text_it->get<std::string>());
    } else {
      const char* known =
          sharegpt ? "system (first only), human, gpt" : "system (first only), user, assistant";
      fail(at, ": role \"", role, "\" where ",
           sharegpt ? (said.size() % 2 ? "gpt" : "human") : next, " was expected; messages go ",
           known, " in turn");
    }
  }
  if (said.size() < 2 || said.size() % 2)
    fail(where, ": the last message must be the assistant's answer (",
         sharegpt ? "\"from\": \"gpt\"" : "\"role\": \"assistant\"", "), after a user message");
  for (size_t k = 0; k + 2 < said.size(); k += 2) e.history.push_back({said[k], said[k + 1]});
  e.instruction = said[said.size() - 2];
  e.output = said.back();
  e.source = j;
  return e;
}

}  // namespace

Entry dataset_entry(const nlohmann::ordered_json& j, const std::string& where) {
  if (!j.is_object()) fail(where, ": is ", json_type_name(j), ", not an object ", kExpected);
  for (const char* list : {"messages", "conversations"})
    if (j.contains(list)) return chat_entry(j, list, where);
  Entry e;
  auto field = [&](const char* name, std::string* out, bool required) {
    auto it = j.find(name);
    if (it == j.end()) {
      if (required) fail(where, ": field \"", name, "\" is missing ", kExpected);
      return;
    }
    if (!it->is_string())
      fail(where, ": field \"", name, "\" is ", json_type_name(*it), ", expected a string");
    *out = it->get<std::string>();
  };
  field("instruction", &e.instruction, true);
  field("input", &e.input, false);
  field("output", &e.output, true);
  e.source = j;
  return e;
}

Dataset dataset_load(const std::filesystem::path& path) {
  const std::string file = path.string();
  const std::string text = file_read(path, "dataset");
  check_utf8(file, text);
  Dataset d;
  d.path = path;

  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text.compare(first, 3, "\xEF\xBB\xBF") == 0)
    first = text.find_first_not_of(" \t\r\n", first + 3);  // UTF-8 BOM
  if (first == std::string::npos)
    fail(file, ": file is empty; expected a JSON array of entries ", kExpected);

  if (text[first] == '[') {
    nlohmann::ordered_json j;
    size_t entry = 0;
    try {
      // The callback counts entries, so a syntax error can name the entry it is in.
      j = nlohmann::ordered_json::parse(
          text.begin() + static_cast<std::ptrdiff_t>(first), text.end(),
          [&](int depth, nlohmann::ordered_json::parse_event_t ev, nlohmann::ordered_json&) {
            if (depth == 1 && (ev == nlohmann::ordered_json::parse_event_t::object_start ||
                               ev == nlohmann::ordered_json::parse_event_t::value))
              entry++;
            return depth <= kMaxDepth;
          });
    } catch (const nlohmann::ordered_json::out_of_range&) {  // 1e999
      fail(file, entry ? str_cat(" entry ", entry - 1) : std::string(),
           ": a number is too large for JSON (over 1.8e308)");
    } catch (const nlohmann::ordered_json::parse_error& e) {
      fail(file, entry ? str_cat(" entry ", entry - 1) : std::string(), ": not valid JSON at ",
           line_col(text, first + e.byte - 1), ": ", parse_reason(e));
    }
    if (j.empty()) fail(file, ": the array has no entries; add at least one ", kExpected);
    d.entries.reserve(j.size());
    for (size_t i = 0; i < j.size(); i++)
      d.entries.push_back(dataset_entry(j[i], str_cat(file, " entry ", i)));
    return d;
  }
  if (text[first] != '{')
    fail(file,
         ": not an instruction dataset: expected a JSON array '[...]' or JSONL (one object "
         "per line), found '",
         text.substr(first, 1), "' at ", line_col(text, first));

  // JSONL: one object per non-blank line.
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    line_no++;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = str_cat(file, " entry ", d.entries.size(), " (line ", line_no, ")");
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(
          line, [](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
            return depth <= kMaxDepth;
          });
    } catch (const nlohmann::ordered_json::out_of_range&) {
      fail(where, ": a number is too large for JSON (over 1.8e308)");
    } catch (const nlohmann::ordered_json::parse_error& e) {
      fail(where, ": not valid JSON at column ", e.byte, ": ", parse_reason(e),
           "; JSONL needs one complete object per line (or use a JSON array)");
    }
    d.entries.push_back(dataset_entry(j, where));
  }
  return d;
}

SplitSizes split_sizes(size_t n, double train_frac, double test_frac) {
  if (!(train_frac > 0 && train_frac <= 1) || !(test_frac >= 0 && test_frac < 1) ||
      train_frac + test_frac > 1 + 1e-12)
    fail("split fractions train ", train_frac, " and test ", test_frac,
         " are invalid; each must be in [0, 1] and together at most 1");
  SplitSizes s;
  // Python's int(): truncation toward zero of the same double product.
  s.train = static_cast<size_t>(std::trunc(train_frac * static_cast<double>(n)));
  s.test = static_cast<size_t>(std::trunc(test_frac * static_cast<double>(n)));
  s.test = std::min(s.test, n - s.train);
  s.val = n - s.train - s.test;
  return s;
}

DatasetSplit dataset_split(const Dataset& d, double train_frac, double test_frac) {
  const SplitSizes s = split_sizes(d.entries.size(), train_frac, test_frac);
  std::span<const Entry> all(d.entries);
  return {all.subspan(0, s.train), all.subspan(s.train + s.test, s.val),
          all.subspan(s.train, s.test)};
}

}  // namespace instruct
