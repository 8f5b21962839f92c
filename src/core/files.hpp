// Whole-file reads and crash-safe writes (temp file + rename), so no command leaves a partial
// file behind. Not a filesystem abstraction: paths are plain std::filesystem paths.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace instruct {

// Reads a whole file; the error names the path and says what to check.
std::string file_read(const std::filesystem::path& path, const char* what = "file");

// An output file that appears at `path` only when commit() is called; otherwise the temporary
// file is removed on destruction (an exception midway leaves nothing behind).
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace instruct
