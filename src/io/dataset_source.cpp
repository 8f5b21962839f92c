// Named datasets: where each is published and where its copy lives in the cache.
#include "io/dataset_source.hpp"

#include <cstdlib>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "io/bundled.hpp"
#include "io/download.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

struct NamedDataset {
  const char* name;
  const char* path;  // under the endpoint
  const char* file;  // in the cache's datasets/
};

// The URL the book uses for exercise 7.3 (REFERENCE.md): tatsu-lab/stanford_alpaca, main branch.
constexpr NamedDataset kNamed[] = {
    {"alpaca-52k", "/tatsu-lab/stanford_alpaca/main/alpaca_data.json", "alpaca_data.json"},
};

std::string data_endpoint() {
  if (const char* e = std::getenv("INSTRUCT_DATA_ENDPOINT"); e && *e) return e;
  return "https://raw.githubusercontent.com";
}

}  // namespace

fs::path dataset_path(const fs::path& data, std::ostream& log) {
  if (data.empty()) return bundled_data_file("instruction-data.json");
  std::error_code ec;
  if (fs::exists(data, ec)) return data;
  for (const NamedDataset& d : kNamed) {
    if (data.string() != d.name) continue;
    const fs::path dest = cache_root() / "datasets" / d.file;
    if (fs::exists(dest, ec)) return dest;
    const std::string url = data_endpoint() + d.path;
    if (dist().size > 1)  // every rank would download into the same file
      fail(d.name, " is not in the cache yet (", dest.string(),
           "); download it first with one process: instruct prepare --data ", d.name);
    try {
      download_file(url, dest, log);
    } catch (const Error& e) {
      fail(e.what(), ". Without a network, download ", url, " to ", dest.string(),
           ", or pass --data FILE");
    }
    return dest;
  }
  return data;
}

Dataset dataset_open(const fs::path& data, std::ostream& log) {
  return dataset_load(dataset_path(data, log));
}

}  // namespace instruct
