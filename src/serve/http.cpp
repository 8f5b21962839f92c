// Binding, listening and stopping an httplib server, one way for every server of the tool.
#include "serve/http.hpp"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "core/error.hpp"
#include "core/signals.hpp"

namespace instruct {

int http_bind(httplib::Server& svr, const std::string& host, int port) {
  const int got =
      port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, port) ? port : -1);
  if (got < 0)
    fail("cannot listen on ", host, ":", port,
         "; is another server (ollama?) using it? pick another with --port");
  return got;
}

void http_serve(httplib::Server& svr, int port, const std::function<void(int)>& on_ready,
                const std::atomic<bool>* stop, const std::function<void()>& shutdown) {
  InterruptScope interrupt;
  std::thread listener([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (on_ready) on_ready(port);
  while (!InterruptScope::requested() && !(stop && *stop))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  shutdown();
  listener.join();
}

}  // namespace instruct
