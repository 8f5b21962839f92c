// Search order: $INSTRUCT_DATA_DIR, next to the executable (install prefix, build tree), the
// source tree this binary was built from, then ./data.
#include "io/bundled.hpp"

#include <cstdlib>
#include <vector>

#include "core/error.hpp"

#ifndef INSTRUCT_SOURCE_DATA_DIR
#define INSTRUCT_SOURCE_DATA_DIR ""
#endif

namespace instruct {

namespace fs = std::filesystem;

fs::path bundled_data_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("INSTRUCT_DATA_DIR"); env && *env) {
    if (!fs::exists(fs::path(env) / "gpt2-encoder.json"))
      fail("INSTRUCT_DATA_DIR=", env, " has no gpt2-encoder.json; point it at the repo's data/");
    return env;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path dir = exe.parent_path();
    candidates = {dir / "../share/instruct/data", dir / "data", dir / "../data",
                  dir / "../../data"};
  }
  if (*INSTRUCT_SOURCE_DATA_DIR) candidates.emplace_back(INSTRUCT_SOURCE_DATA_DIR);
  candidates.emplace_back("data");
  std::string tried;
  for (const fs::path& c : candidates) {
    if (fs::exists(c / "gpt2-encoder.json", ec)) return fs::weakly_canonical(c, ec);
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  fail("cannot find the bundled data directory (looked in ", tried,
       "); set INSTRUCT_DATA_DIR to the repo's data/ folder");
}

fs::path bundled_data_file(std::string_view name) {
  fs::path p = bundled_data_dir() / name;
  if (!fs::exists(p))
    fail(p.string(), " is missing from the bundled data; restore it from the repository's data/");
  return p;
}

}  // namespace instruct
