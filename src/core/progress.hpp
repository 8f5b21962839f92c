// Progress for long work: on a terminal (stderr is a TTY) a bar redrawn in place with rate and
// ETA; otherwise a plain log line at most every `every_seconds`, and at the end.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "core/sys.hpp"

namespace instruct {

class Progress {
 public:
  Progress(std::ostream& log, std::string label, int64_t total, double every_seconds = 10);
  // `done` units of `total`; `status` is shown after the bar (loss, tokens/s...).
  void update(int64_t done, const std::string& status);
  // Erases the bar (before printing other lines on a terminal); the next update redraws it.
  void clear();
  void finish();  // ends the bar line
  bool tty() const { return tty_; }
  // The whole work's time as estimated beforehand: the first ETAs follow it (a first step carries
  // warm-up and the step-0 evaluation), the measured rate takes over as units complete.
  void set_prior(double seconds) { prior_ = seconds; }
  // Without a prior: no ETA until this many units are done (work done in batches finishes its
  // first units late: respond's first answer of 8 decoded together said 17 minutes for 2).
  void set_eta_after(int64_t units) { eta_after_ = units; }

 private:
  std::ostream& log_;
  std::string label_;
  int64_t total_;
  double every_;
  bool tty_;
  bool drawn_ = false;
  double last_print_ = -1e9;
  int64_t start_done_ = -1;
  double prior_ = 0;
  int64_t eta_after_ = 0;
  Timer timer_;
};

}  // namespace instruct
