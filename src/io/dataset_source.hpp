// Where instruction data comes from: a file, the bundled instruction-data.json (no --data), or a
// public dataset by name, downloaded into the cache once (alpaca-52k: Stanford Alpaca's
// alpaca_data.json, 52,002 entries, exercise 7.3). Tests point the download at a local server
// with INSTRUCT_DATA_ENDPOINT.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "data/dataset.hpp"

namespace instruct {

// The file `data` names: the bundled data when empty, the path when it exists, the cached copy of
// a named dataset (downloaded first when missing, resumed when partial). Anything else is returned
// as given (the loader then says it is missing).
std::filesystem::path dataset_path(const std::filesystem::path& data, std::ostream& log);

// dataset_load(dataset_path(data, log)).
Dataset dataset_open(const std::filesystem::path& data, std::ostream& log);

}  // namespace instruct
