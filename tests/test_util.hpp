// Shared test helpers: paths to the test and repo data, a loaded GPT-2 tokenizer, JSON files.
#pragma once

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "text/bpe.hpp"

namespace instruct::test {

inline std::filesystem::path test_data(const std::string& name) {
  return std::filesystem::path(INSTRUCT_TEST_DATA) / name;
}
inline std::filesystem::path repo_data(const std::string& name) {
  return std::filesystem::path(INSTRUCT_REPO_DATA) / name;
}
inline nlohmann::json read_json(const std::filesystem::path& p) {
  return nlohmann::json::parse(file_read(p));
}
// The bundled GPT-2 tokenizer, loaded once per test binary.
inline Bpe& gpt2() {
  static Bpe bpe = bpe_load(repo_data("gpt2-encoder.json"), repo_data("gpt2-vocab.bpe"));
  return bpe;
}
// A fresh temporary directory, removed by the caller or left in /tmp.
inline std::filesystem::path temp_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() /
           ("instruct_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

// A run directory's metrics.jsonl without the wall times ("seconds"), one record per line: two
// runs that trained the same way give the same text.
inline std::string metrics_without_times(const std::filesystem::path& run) {
  std::string all, line;
  std::ifstream f(run / "metrics.jsonl");
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    all += j.dump() + "\n";
  }
  return all;
}

// Runs an httplib server on 127.0.0.1 (a free port) on its own thread until destroyed. Declare it
// after the server, once the routes are set.
class ServerThread {
 public:
  explicit ServerThread(httplib::Server& s) : server_(s) {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~ServerThread() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server& server_;
  std::thread thread_;
  int port_ = 0;
};

// An HTTP server on 127.0.0.1 serving files from memory (Range requests answered by httplib), for
// the download tests: no network needed.
class LocalFileServer {
 public:
  LocalFileServer() {
    server_.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      requests_++;
      if (req.has_header("Range")) ranged_++;
      auto it = files_.find(req.path);
      if (it == files_.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    running_.emplace(server_);
  }
  void add(const std::string& path, std::string bytes) { files_[path] = std::move(bytes); }
  const std::string& content(const std::string& path) { return files_.at(path); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(running_->port()); }
  int requests() const { return requests_; }
  int ranged() const { return ranged_; }  // requests that asked for a byte range (a resume)

 private:
  httplib::Server server_;
  std::map<std::string, std::string> files_;
  std::atomic<int> requests_{0}, ranged_{0};
  std::optional<ServerThread> running_;
};

}  // namespace instruct::test
