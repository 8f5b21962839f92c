// Ctrl-C as a request, not a kill: while an InterruptScope lives, the first SIGINT/SIGTERM only
// sets a flag that long loops poll (to save a checkpoint and stop); a second one kills as usual.
#pragma once

namespace instruct {

class InterruptScope {
 public:
  InterruptScope();   // installs the handlers and clears the flag
  ~InterruptScope();  // restores the previous handlers
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  static bool requested();
  static int signal();  // the signal that was received, 0 if none
};

}  // namespace instruct
