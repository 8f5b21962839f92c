// sigaction-based handlers; the flag is a lock-free atomic, the only thing a handler may touch.
#include "core/signals.hpp"

#include <csignal>

#include <atomic>

namespace instruct {

namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  g_signal.store(sig);
  // A second Ctrl-C falls through to the default action (terminate).
  std::signal(sig, SIG_DFL);
}

}  // namespace

InterruptScope::InterruptScope() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptScope::~InterruptScope() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool InterruptScope::requested() {
  return g_signal.load() != 0;
}
int InterruptScope::signal() {
  return g_signal.load();
}

}  // namespace instruct
