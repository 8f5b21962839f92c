// Finds the files bundled in data/ (instruction data, GPT-2 vocab) from the repo, its build
// directory, or an install prefix, without flags. Does not read them.
#pragma once

#include <filesystem>
#include <string_view>

namespace instruct {

// The directory holding the bundled data; the error lists where it looked.
std::filesystem::path bundled_data_dir();
// bundled_data_dir() / name.
std::filesystem::path bundled_data_file(std::string_view name);

}  // namespace instruct
