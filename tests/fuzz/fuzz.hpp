// Shared by the libFuzzer targets. The property every target checks: bad input ends in an
// instruct::Error whose message is one line; anything else (another exception type, a sanitizer
// report, a crash, a hang) is a finding. Readers that take a path get the input as a file in a
// private temp directory (tmpfs when there is one).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "io/bundled.hpp"
#include "text/bpe.hpp"

namespace fuzz {

inline const std::filesystem::path& dir() {
  static const std::filesystem::path d = [] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    auto p = std::filesystem::path(base) / ("instruct-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(p);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir(), ec);
    });
    return p;
  }();
  return d;
}

inline std::filesystem::path write(const std::string& name, std::string_view bytes) {
  const auto p = dir() / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

[[noreturn]] inline void finding(const char* what, const char* detail) {
  std::fprintf(stderr, "fuzz finding: %s: %s\n", what, detail);
  std::abort();
}

// Runs f; an instruct::Error must be one line, any other exception is a finding.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const instruct::Error& e) {
    if (std::strchr(e.what(), '\n')) finding("error message spans lines", e.what());
  } catch (const std::exception& e) {
    finding("exception other than instruct::Error", e.what());
  }
}

// The bundled GPT-2 tokenizer, loaded once.
inline instruct::Bpe& bundled_bpe() {
  static instruct::Bpe b = instruct::bpe_load_dir(instruct::bundled_data_dir());
  return b;
}

// Splits the input into parts at a "\n--\n" line (a seed corpus writes files that way).
inline std::vector<std::string_view> parts(const uint8_t* data, size_t size, size_t n) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    const size_t at = s.find("\n--\n");
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 4);
  }
  out.push_back(s);
  out.resize(n);
  return out;
}

}  // namespace fuzz
