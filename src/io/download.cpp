// libcurl easy interface: one transfer at a time, Range resume, redirects followed (HF -> CDN).
#include "io/download.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"
#include "core/sys.hpp"

namespace instruct {

namespace fs = std::filesystem;

fs::path cache_root() {
  if (const char* x = std::getenv("INSTRUCT_CACHE"); x && *x) return x;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "instruct";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "instruct";
  return fs::path(".cache") / "instruct";
}

std::string hf_endpoint() {
  if (const char* e = std::getenv("INSTRUCT_HF_ENDPOINT"); e && *e) return e;
  return "https://huggingface.co";
}

namespace {

struct Transfer {
  FILE* out = nullptr;
  std::string name;
  curl_off_t resumed = 0;
  bool tty = false;
  Timer timer;
  double last_print = -1;
};

size_t on_write(char* ptr, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  return std::fwrite(ptr, size, n, t->out) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  const double s = t->timer.seconds();
  if (s - t->last_print < (t->tty ? 0.2 : 5.0) || total <= 0) return 0;
  t->last_print = s;
  const double done = static_cast<double>(t->resumed + now),
               all = static_cast<double>(t->resumed + total);
  const int width = 30, filled = static_cast<int>(width * done / all);
  std::fprintf(stderr, "%sdownloading %s [%.*s%*s] %5.1f%% %s / %s  %.1f MB/s%s",
               t->tty ? "\r" : "", t->name.c_str(), filled, "##############################",
               width - filled, "", 100 * done / all,
               format_bytes(static_cast<int64_t>(done)).c_str(),
               format_bytes(static_cast<int64_t>(all)).c_str(), now / 1e6 / std::max(s, 1e-3),
               t->tty ? "\033[K" : "\n");
  return 0;
}

}  // namespace

void download_file(const std::string& url, const fs::path& dest, std::ostream& log) {
  static const bool init = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!init) fail("libcurl failed to initialise");
  const fs::path part = dest.string() + ".part";
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  Transfer t;
  t.name = dest.filename().string();
  t.tty = ::isatty(2);
  t.resumed = fs::exists(part) ? static_cast<curl_off_t>(fs::file_size(part)) : 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    t.out = std::fopen(part.c_str(), t.resumed ? "ab" : "wb");
    if (!t.out)
      fail(part.string(), ": cannot write the download (check the cache directory permissions)");
    CURL* c = curl_easy_init();
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "instruct.cpp");
    if (t.resumed) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, t.resumed);
    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    std::fclose(t.out);
    if (t.tty && t.last_print >= 0) std::fprintf(stderr, "\n");
    if (rc == CURLE_RANGE_ERROR || status == 416 || (t.resumed && status == 200)) {
      // The server cannot resume (or the partial file is stale): start over once.
      if (attempt == 0) {
        fs::remove(part, ec);
        t.resumed = 0;
        continue;
      }
    }
    if (rc != CURLE_OK) {
      const bool partial = fs::exists(part, ec) && fs::file_size(part, ec) > 0;
      if (!partial) fs::remove(part, ec);  // nothing arrived: leave no empty .part behind
      fail("cannot download ", url, " (", *err ? err : curl_easy_strerror(rc), "); ",
           partial ? "run again to resume" : "check the network");
    }
    if (status >= 400) {
      fs::remove(part, ec);
      fail("cannot download ", url, ": HTTP ", status,
           status == 404 ? " (no such file; check the model name)" : "");
    }
    fs::rename(part, dest, ec);
    if (ec) fail(dest.string(), ": cannot move the finished download into place: ", ec.message());
    log << "fetched   " << url << " -> " << dest.string() << "\n";
    return;
  }
}

void download_hf_model(const std::string& name, const fs::path& dir, std::ostream& log) {
  const std::string base = hf_endpoint() + "/openai-community/" + name + "/resolve/main/";
  for (const char* f : {"config.json", "model.safetensors"}) {
    if (fs::exists(dir / f)) continue;
    try {
      download_file(base + f, dir / f, log);
    } catch (const Error& e) {
      fail(e.what(), ". Without a network, download config.json and model.safetensors from ",
           "https://huggingface.co/openai-community/", name, " into ", dir.string(),
           ", or pass --model DIR");
    }
  }
}

}  // namespace instruct
