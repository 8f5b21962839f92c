// UTF-8 per RFC 3629 / Unicode 3.9: no overlongs, no surrogates, nothing above U+10FFFF.
#include "text/utf8.hpp"

namespace instruct {

size_t utf8_next(std::string_view s, size_t i, uint32_t* cp, size_t* bad) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  uint32_t c;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; k++) {
    if (i + k >= s.size()) {
      *bad = k;
      return 0;
    }
    const auto b = static_cast<uint8_t>(s[i + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) {
      *bad = k;
      return 0;
    }
    c = (c << 6) | (b & 0x3F);
  }
  *cp = c;
  return need + 1;
}

size_t utf8_find_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad;
    const size_t n = utf8_next(s, i, &cp, &bad);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// Appends s to out with U+FFFD for each maximal invalid subpart; with hold_tail, stops before an
// incomplete character at the very end that more bytes could still complete. Returns the bytes
// used.
size_t sanitize_into(std::string_view s, std::string& out, bool hold_tail) {
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    size_t bad;
    const size_t n = utf8_next(s, i, &cp, &bad);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    const auto b0 = static_cast<uint8_t>(s[i]);
    if (hold_tail && b0 >= 0xC2 && b0 <= 0xF4 && i + bad >= s.size())
      break;  // valid so far, cut short
    utf8_append(out, 0xFFFD);
    i += bad;
  }
  return i;
}

}  // namespace

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  sanitize_into(s, out, false);
  return out;
}

size_t utf8_sanitize_prefix(std::string_view s, std::string& out) {
  return sanitize_into(s, out, true);
}

}  // namespace instruct

namespace instruct {

bool py_isspace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

namespace {

// Start of the character that ends at `end` (s valid UTF-8 there), or end - 1 for stray bytes.
size_t char_start_before(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && end - i < 4 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) i--;
  return i;
}

}  // namespace

std::string_view py_lstrip(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t bad = 0;
    const size_t n = utf8_next(s, i, &cp, &bad);
    if (n == 0 || !py_isspace(cp)) break;
    i += n;
  }
  return s.substr(i);
}

std::string_view py_strip(std::string_view s) {
  return py_rstrip(py_lstrip(s));
}

std::string_view py_rstrip(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    const size_t st = char_start_before(s, end);
    uint32_t cp = 0;
    size_t bad = 0;
    const size_t n = utf8_next(s, st, &cp, &bad);
    if (n != end - st || !py_isspace(cp)) break;
    end = st;
  }
  return s.substr(0, end);
}

int64_t utf8_code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

size_t utf8_complete_prefix(std::string_view s) {
  if (s.empty()) return 0;
  const size_t st = char_start_before(s, s.size());
  const auto b0 = static_cast<uint8_t>(s[st]);
  const size_t want = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 1;
  return s.size() - st < want ? st : s.size();
}

}  // namespace instruct
