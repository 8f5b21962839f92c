// Named datasets: where each is published and where its copy lives in the cache.
#include "io/dataset_source.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstdlib>
#include <fstream>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "io/bundled.hpp"
#include "io/download.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

// The URL the book uses for exercise 7.3 (REFERENCE.md): tatsu-lab/stanford_alpaca, main branch.
constexpr PublicFile kAlpaca52k = {
    "alpaca-52k",
    "https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/main/alpaca_data.json",
    "alpaca_data.json"};

}  // namespace

std::string public_url(const PublicFile& f) {
  const std::string url = f.url;
  const char* e = std::getenv("INSTRUCT_DATA_ENDPOINT");
  if (!e || !*e) return url;
  const size_t host = url.find("://");
  const size_t path = url.find('/', host == std::string::npos ? 0 : host + 3);
  return std::string(e) + url.substr(path);
}

fs::path public_file(const PublicFile& f, const std::string& hint, std::ostream& log) {
  const fs::path dest = cache_root() / "datasets" / f.cache;
  std::error_code ec;
  if (fs::exists(dest, ec)) return dest;
  const std::string url = public_url(f);
  if (dist().size > 1)  // every rank would download into the same file
    fail(f.name, " is not in the cache yet (", dest.string(),
         "); download it first with one process: ", hint);
  try {
    download_file(url, dest, log);
  } catch (const Error& e) {
    fail(e.what(), ". Without a network, download ", url, " to ", dest.string(),
         ", or pass --data FILE");
  }
  return dest;
}

fs::path archive_extract(const fs::path& archive, const fs::path& dest, std::ostream& log) {
  std::error_code ec;
  if (fs::is_directory(dest, ec)) return dest;
  const fs::path tmp = dest.string() + ".tmp";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  log << "extract   " << archive.string() << " -> " << dest.string() << "\n" << std::flush;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  auto bad = [&](const std::string& what) {
    const std::string msg = archive_error_string(a) ? archive_error_string(a) : "";
    archive_read_free(a);
    fs::remove_all(tmp, ec);
    fail(archive.string(), ": ", what, msg.empty() ? "" : " (" + msg + ")",
         "; download it again (delete the file) or pass the extracted directory");
  };
  if (archive_read_open_filename(a, archive.c_str(), 1 << 16) != ARCHIVE_OK)
    bad("not a readable tar or zip archive");
  struct archive_entry* entry;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) bad("a damaged entry");
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const fs::path name = archive_entry_pathname(entry);
    bool safe = !name.is_absolute();
    for (const auto& part : name) safe = safe && part != "..";
    if (!safe) bad("an entry outside the archive's folder: " + name.string());
    const fs::path out = tmp / name;
    fs::create_directories(out.parent_path(), ec);
    std::ofstream f(out, std::ios::binary);
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0) bad("a damaged entry " + name.string());
      if (n == 0) break;
      f.write(buf.data(), n);
    }
    if (!f) {
      archive_read_free(a);
      fs::remove_all(tmp, ec);
      fail(out.string(), ": cannot write (disk full?)");
    }
  }
  archive_read_free(a);
  fs::rename(tmp, dest, ec);
  if (ec) fail(dest.string(), ": cannot move the extracted files into place (", ec.message(), ")");
  return dest;
}

fs::path dataset_path(const fs::path& data, std::ostream& log) {
  if (data.empty()) return bundled_data_file("instruction-data.json");
  std::error_code ec;
  if (fs::exists(data, ec)) return data;
  if (data.string() == kAlpaca52k.name)
    return public_file(kAlpaca52k, "instruct prepare --data alpaca-52k", log);
  return data;
}

Dataset dataset_open(const fs::path& data, std::ostream& log) {
  return dataset_load(dataset_path(data, log));
}

}  // namespace instruct
