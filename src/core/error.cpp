// The one-line guarantee of Error.
#include "core/error.hpp"

namespace instruct {

std::string one_line(std::string s) {
  size_t i = 0;
  while (i < s.size() && static_cast<unsigned char>(s[i]) >= 0x20 && s[i] != 0x7f) i++;
  if (i == s.size()) return s;
  std::string out = s.substr(0, i);
  static const char* hex = "0123456789abcdef";
  for (; i < s.size(); i++) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != 0x7f)
      out += s[i];
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else {
      const char esc[] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
      out.append(esc, 4);
    }
  }
  return out;
}

}  // namespace instruct
