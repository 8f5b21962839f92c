#include "pipeline/serve.hpp"

#include <omp.h>

#include <httplib.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "core/error.hpp"
#include "io/gguf.hpp"
#include "kernels/gemm.hpp"
#include "serve/api.hpp"
#include "serve/engine.hpp"
#include "serve/http.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

// Calls f(fd, listening) for each open TCP socket of this process whose local port is `port`.
template <class F>
void for_each_socket_on(int port, F&& f) {
  std::vector<int> fds;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/self/fd", ec))
    fds.push_back(std::atoi(e.path().filename().c_str()));
  for (int fd : fds) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) continue;
    const int p = addr.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (p == port) f(fd, listening != 0);
  }
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of clients connecting at once would see
// dropped SYNs and a one-second retry. listen() again on the bound socket raises the backlog.
void widen_backlog(int port) {
  for_each_socket_on(port, [](int fd, bool listening) {
    if (listening) ::listen(fd, 512);
  });
}

// The accepted connections of the server on `port`, shut down: a request thread waiting on one (a
// kept-alive client, a request half read, a stream's write to a client that stopped reading)
// wakes up and ends at once. httplib 0.11 keeps no list of them, and its thread pool waits for
// every one before listen() returns.
void shut_connections(int port) {
  for_each_socket_on(port, [](int fd, bool listening) {
    if (!listening) ::shutdown(fd, SHUT_RDWR);
  });
}

std::string file_time_rfc3339(const fs::path& p) {
  std::error_code ec;
  auto ft = fs::last_write_time(p, ec);
  auto t = ec ? std::chrono::system_clock::now()
              : std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                    ft - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void serve_run(const ServeOptions& o, std::ostream& log, const std::function<void(int)>& on_ready,
               const std::atomic<bool>* stop) {
  serve_options_visit(OptChecker{}, o);  // every value against its declared range
  generate_options_check(o.infer.gen);
  // Request bodies up to --max-body (8 MiB) come and go on many threads. glibc raises its mmap
  // threshold to the largest block freed, after which such bodies stay in per-thread arenas: RSS
  // grew by 100 MiB under the load test. A fixed threshold maps them and gives them back.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // The port first: a busy one is an error before minutes of model loading.
  httplib::Server svr;
  const size_t threads = o.threads > 0 ? o.threads : 4 * o.max_batch + 16;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT would let a second server bind the same
  // port and silently take half of the connections. TCP_NODELAY (inherited by accepted sockets):
  // without it Nagle holds each small write (a streamed token, a reply's body after its headers)
  // until the client's delayed ACK, 40 ms.
  svr.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  });
  svr.set_keep_alive_timeout(5);
  svr.set_read_timeout(30);
  const int port = http_bind(svr, o.host, o.port);
  widen_backlog(port);

  InferModel im = infer_model_load(o.infer, log);
  const GPT2Config& c = im.model.cfg;

  ServeModel sm;
  const fs::path model_path =
      o.infer.model.init.empty() ? fs::path(o.infer.model.model) : fs::path();
  sm.name = o.name;
  if (sm.name.empty()) {
    fs::path p = model_path.empty() ? fs::path("random-" + model_random_size(o.infer.model))
                                    : model_path.lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    sm.name = gguf_path(p) ? p.stem().string() : p.filename().string();
    if (sm.name.empty() || sm.name == "." || sm.name == "..") sm.name = "instruct";
  }
  if (sm.name.find_first_of(" \t\n/") != std::string::npos)
    fail("--name \"", sm.name, "\" has a space or a slash; give a plain name such as my-model");
  sm.cfg = c;
  sm.bpe = &im.bpe;
  sm.tmpl = im.tmpl;
  sm.template_name = std::string(im.tmpl->name());
  sm.format = !model_path.empty() && gguf_path(model_path) ? "gguf" : "safetensors";
  // Ollama's quantization_level spelling (F32, BF16, Q8_0).
  const DType body = gpt2_precision(im.model).linears;
  sm.dtype = body == DType::kQ8_0 ? "Q8_0" : body == DType::kBF16 ? "BF16" : "F32";
  sm.params = im.model.w.size() + im.adapter.w.size();
  sm.size_bytes = static_cast<int64_t>(static_cast<double>(sm.params) * dtype_bytes(body));
  std::string identity;
  try {
    identity = model_identity(o.infer.model);
  } catch (const std::exception&) {
    identity = o.infer.model.model;
  }
  char digest[24];
  std::snprintf(digest, sizeof digest, "%016zx",
                std::hash<std::string>{}(identity + o.infer.model.adapter.string()));
  sm.digest = digest;
  sm.modified_at = file_time_rfc3339(model_path.empty() ? fs::path(".") : model_path);
  sm.sample = o.infer.gen.sample;
  sm.max_new_tokens = o.infer.gen.max_new_tokens;
  sm.eos = o.infer.gen.eos;
  sm.max_prompt_tokens = o.max_prompt_tokens;

  ::signal(SIGPIPE, SIG_IGN);  // a client that left is a failed write, not a dead server
  // The engine thread runs every forward from here on. The load's OpenMP threads are let go first:
  // with them still managed, libgomp counts more threads than cores and has its workers sleep
  // between parallel regions instead of spinning, a futex wake per region (about 100 a token),
  // which halved Q8_0's decoding rate in the server on this VM.
  omp_pause_resource_all(omp_pause_hard);
  Engine engine(im.ref(), im.bpe, o.max_batch);
  auto routes = serve_routes(svr, sm, engine, log);
  log << "serve     " << sm.name << " (" << c.n_layer << " layers, " << sm.dtype << ", template "
      << sm.template_name << ") on http://" << o.host << ":" << port << "  batch " << o.max_batch
      << ", " << gemm_machine_line() << "\n"
      << "          Ollama API /api/*, OpenAI API /v1/*, chat page /; Ctrl-C stops\n"
      << std::flush;
  // One Ctrl-C stops everything, whatever is open: no new connections, every request's generation
  // ended (its stream gets its last frame), then every open connection shut, so the request
  // threads return and listen() with them.
  http_serve(svr, port, on_ready, stop, [&] {
    svr.stop();
    engine.shutdown();  // wakes request threads still waiting for tokens
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the streams' last frames go out
    shut_connections(port);
  });
  log << "serve     stopped; " << engine.counts().served << " requests served\n";
}

}  // namespace instruct
