// The HTTP handlers of `instruct serve` (Ollama and OpenAI routes), on a tiny random model served
// on a free port of 127.0.0.1. The input's first line is "METHOD /path", the rest the body. Every
// request gets an answer that is not 500 (a handler's uncaught exception) and, for an error,
// a JSON body; the server keeps answering.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "pipeline/serve.hpp"

namespace {

int g_port = 0;

void start_server() {
  static std::mutex mu;
  static std::condition_variable cv;
  static std::ostringstream log;  // the server's request log; dropped
  static std::thread server([] {
    instruct::ServeOptions o;
    o.infer.model.init = "random";
    o.infer.model.config = "n_layer=1,n_head=2,n_embd=16,n_ctx=48";
    o.infer.gen.max_new_tokens = 6;
    o.port = 0;
    o.max_batch = 4;
    o.threads = 8;
    instruct::serve_run(o, log, [](int port) {
      std::lock_guard<std::mutex> lk(mu);
      g_port = port;
      cv.notify_all();
    });
  });
  server.detach();
  std::unique_lock<std::mutex> lk(mu);
  cv.wait(lk, [] { return g_port != 0; });
}

// One request on a fresh connection; returns the response: Content-Length bytes after the
// headers when it has one (a server may keep a connection it could not parse open until its
// keep-alive timeout), otherwise everything up to the close (streams are close-delimited).
std::string exchange(const std::string& request) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(g_port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Thousands of connections a second leave the server's closed ones in TIME_WAIT; a connect that
  // meets one may fail at once: try again (on a new socket) for up to 5 s before calling it a
  // finding.
  int s = -1;
  for (int tries = 0;; tries++) {
    s = ::socket(AF_INET, SOCK_STREAM, 0);
    // Closed with a reset, not into TIME_WAIT, so the client side uses up no ephemeral ports.
    const linger reset{1, 0};
    ::setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
    const int err = errno;
    ::close(s);
    if (tries == 500) fuzz::finding("http: the server stopped accepting", std::strerror(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(s, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[65536];
  size_t want = std::string::npos;
  for (ssize_t n; out.size() < want && (n = ::recv(s, buf, sizeof buf, 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
    const size_t end = out.find("\r\n\r\n");
    if (want == std::string::npos && end != std::string::npos) {
      std::string head = out.substr(0, end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (const size_t at = head.find("\r\ncontent-length: "); at != std::string::npos)
        want = end + 4 + std::strtoull(head.c_str() + at + 18, nullptr, 10);
    }
  }
  ::close(s);
  if (want != std::string::npos && out.size() < want) return "";  // cut short: see the caller
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  start_server();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  std::string head = in.substr(0, nl), body = nl == std::string::npos ? "" : in.substr(nl + 1);
  const size_t sp = head.find(' ');
  std::string method = head.substr(0, sp),
              path = sp == std::string::npos ? "/" : head.substr(sp + 1);
  if (method != "GET" && method != "POST" && method != "DELETE") method = "POST";
  if (path.empty() || path[0] != '/' || path.find_first_of(" \r\n\t") != std::string::npos ||
      path.size() > 200)
    path = "/api/chat";
  const std::string request = method + " " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                              "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string reply = exchange(request);
  // Once in ~10^4 connections at fuzzing rates the connection closes unanswered, and once in ~10^6
  // a 400's body is lost after its headers (the server closes with request bytes it never read, the
  // kernel answers with a reset, and the reset discards what the client had not read yet); neither
  // is reproducible by replaying the input: the same request again must work.
  if (reply.empty()) reply = exchange(request);
  if (reply.rfind("HTTP/1.1 ", 0) != 0)
    fuzz::finding("http", ("no status line for " + head).c_str());
  const int status = std::atoi(reply.c_str() + 9);
  if (status >= 500) fuzz::finding("http", reply.substr(0, 400).c_str());
  const size_t hdr_end = reply.find("\r\n\r\n");
  if (status >= 400 && (path.rfind("/api/", 0) == 0 || path.rfind("/v1/", 0) == 0) &&
      hdr_end != std::string::npos) {
    const std::string payload = reply.substr(hdr_end + 4);
    if (!nlohmann::json::accept(payload))
      fuzz::finding("http", ("an error without a JSON body: " + reply.substr(0, 400)).c_str());
  }
  return 0;
}
