// Strict UTF-8 validation and lossy repair (U+FFFD for each maximal invalid subpart, as Python's
// errors="replace"). No normalisation, no case mapping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace instruct {

// Byte offset of the first invalid UTF-8 sequence in s, or std::string_view::npos if s is valid.
size_t utf8_find_invalid(std::string_view s);

// s with every maximal invalid subpart replaced by U+FFFD.
std::string utf8_sanitize(std::string_view s);

// Appends code point cp (<= 0x10FFFF, not a surrogate) encoded as UTF-8.
void utf8_append(std::string& out, uint32_t cp);

// Decodes the sequence at s[i]. Returns its length and sets *cp when valid; returns 0 when not,
// and sets *bad to the length of the maximal invalid subpart (at least 1).
size_t utf8_next(std::string_view s, size_t i, uint32_t* cp, size_t* bad);
// Python's str.isspace() for one character (also re's \s on str patterns): Unicode White_Space
// plus the ASCII separators \x1c-\x1f (bidi class B/S/WS).
bool py_isspace(uint32_t c);
// Python's str.strip(): removes leading and trailing characters for which str.isspace() is true.
std::string_view py_strip(std::string_view s);
// Python's str.lstrip() and str.rstrip() (whitespace).
std::string_view py_lstrip(std::string_view s);
std::string_view py_rstrip(std::string_view s);
// Python's len() of valid UTF-8: the code points (bytes that do not continue a character).
int64_t utf8_code_points(std::string_view s);
// Length of the longest prefix that does not end inside a UTF-8 character (for streaming).
size_t utf8_complete_prefix(std::string_view s);
// Streaming repair: appends s to out as valid UTF-8 (U+FFFD for each maximal invalid subpart, as
// utf8_sanitize) except an incomplete character at the very end that more bytes could still
// complete; returns how many bytes of s it consumed (the rest waits for the next call).
size_t utf8_sanitize_prefix(std::string_view s, std::string& out);

}  // namespace instruct
