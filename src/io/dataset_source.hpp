// Where data comes from: a file, the bundled instruction-data.json (no --data), or a public file by
// name, downloaded into the cache once with a progress bar and resume (alpaca-52k: Stanford
// Alpaca's alpaca_data.json, 52,002 entries, exercise 7.3; the benchmarks of `instruct eval`).
// Tests point every download at a local server with INSTRUCT_DATA_ENDPOINT (it replaces the
// scheme and host of each URL; the path stays).
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "data/dataset.hpp"

namespace instruct {

// A file published on the web and its place in the cache's datasets/ folder.
struct PublicFile {
  const char* name;   // what the user calls it
  const char* url;    // where it is published
  const char* cache;  // relative to <cache>/datasets
};

// f.url, with INSTRUCT_DATA_ENDPOINT in place of its scheme and host when set.
std::string public_url(const PublicFile& f);

// The cached copy of f, downloaded first when missing (resumed when partial). Offline, the error
// names the URL and where to put the file. `hint`: the command that downloads it with one process
// (said under mpirun, where every rank would write the same file).
std::filesystem::path public_file(const PublicFile& f, const std::string& hint, std::ostream& log);

// Extracts a tar or zip archive into `dest` (a directory made whole: the files land in dest.tmp,
// renamed when complete); an existing `dest` is returned as it is.
std::filesystem::path archive_extract(const std::filesystem::path& archive,
                                      const std::filesystem::path& dest, std::ostream& log);

// The file `data` names: the bundled data when empty, the path when it exists, the cached copy of
// a named dataset (downloaded first when missing, resumed when partial). Anything else is returned
// as given (the loader then says it is missing).
std::filesystem::path dataset_path(const std::filesystem::path& data, std::ostream& log);

// dataset_load(dataset_path(data, log)).
Dataset dataset_open(const std::filesystem::path& data, std::ostream& log);

}  // namespace instruct
