// The HTTP servers' life (`serve`, `arena`): bind first (a busy port is an error before any slow
// loading), listen on a thread, stop on Ctrl-C.
#pragma once

#include <atomic>
#include <functional>
#include <string>

namespace httplib {
class Server;
}

namespace instruct {

// Binds host:port (0: any free port) and returns the port; fails in one line naming them.
int http_bind(httplib::Server& svr, const std::string& host, int port);

// Listens on a thread; on_ready(port) once it accepts; when Ctrl-C (or *stop) asks, runs
// `shutdown` (it must make listen() return: svr.stop() and whatever else the server holds open)
// and joins the listener.
void http_serve(httplib::Server& svr, int port, const std::function<void(int)>& on_ready,
                const std::atomic<bool>* stop, const std::function<void()>& shutdown);

}  // namespace instruct
