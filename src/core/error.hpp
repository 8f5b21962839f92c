// Errors: one exception type whose message is the single line the CLI prints after "error: ".
// Messages name the file, the entry or tensor, and the fix. This file does no printing or exiting.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace instruct {

// Control characters (a newline inside a quoted tensor name or JSON line) are written as \n,
// \t, \xHH, so the message stays the one line it promises.
std::string one_line(std::string s);

struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(one_line(what)) {}
};

// Concatenates its arguments with operator<< (GCC 12 has no <format>).
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// A long job stopped by Ctrl-C after saving its state; the CLI exits 130 and names the checkpoint.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace instruct
