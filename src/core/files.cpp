// Whole-file reads and temp-file-then-rename writes.
#include "core/files.hpp"

#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/error.hpp"

namespace instruct {

std::string file_read(const std::filesystem::path& path, const char* what) {
  // A directory reads as empty and a FIFO blocks forever: refuse anything but a regular file.
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(st))
    fail(path.string(), ": is a directory; give the ", what, " file itself");
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    fail(path.string(), ": not a regular file (a pipe or a device); give the ", what, " as a file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path.string(), ": cannot open ", what, " (", std::strerror(errno), "); check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path.string(), ": read error");
  return ss.str();
}

AtomicFile::AtomicFile(std::filesystem::path path)
    : path_(std::move(path)), tmp_(path_.string() + ".tmp." + std::to_string(::getpid())) {
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_)
    fail(path_.string(), ": cannot create output file (", std::strerror(errno),
         "); check that the directory exists and is writable");
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_)
    fail(path_.string(), ": write failed (", std::strerror(errno),
         "); free some disk space and run again");
  out_.close();
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) fail(path_.string(), ": cannot move the finished file into place: ", ec.message());
  committed_ = true;
}

}  // namespace instruct
