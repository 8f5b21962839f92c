// The bar goes to stderr so stdout stays a clean log; plain lines go to the log stream.
#include "core/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace instruct {

Progress::Progress(std::ostream& log, std::string label, int64_t total, double every_seconds)
    : log_(log),
      label_(std::move(label)),
      total_(total),
      every_(every_seconds),
      tty_(::isatty(2)) {}

void Progress::update(int64_t done, const std::string& status) {
  const double t = timer_.seconds();
  if (start_done_ < 0) start_done_ = done > 0 ? done - 1 : 0;  // rate over this run only
  const double rate = t > 0 ? (done - start_done_) / t : 0;
  double eta = rate > 0 ? (total_ - done) / rate : 0;
  if (prior_ >
      0) {  // from the estimate to the measured rate over the first tenth (at least 5 units)
    const double w =
        std::min(1.0, (done - start_done_) / std::max(5.0, 0.1 * static_cast<double>(total_)));
    eta = (1 - w) * std::max(0.0, prior_ - t) + w * eta;
  }
  const double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1;
  char head[96];
  std::snprintf(head, sizeof head, "%s %lld/%lld", label_.c_str(), static_cast<long long>(done),
                static_cast<long long>(total_));
  const bool known = prior_ > 0 || done - start_done_ >= eta_after_;
  const std::string tail =
      status + "  elapsed " + format_duration(t) + "  eta " + (known ? format_duration(eta) : "?");
  if (tty_) {
    const int width = 24, fill = static_cast<int>(frac * width + 0.5);
    std::string bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "]";
    std::fprintf(stderr, "\r%s %s  %s\033[K", bar.c_str(), head, tail.c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else if (t - last_print_ >= every_ || done == total_) {
    log_ << head << "  " << tail << "\n" << std::flush;
    last_print_ = t;
  }
}

void Progress::clear() {
  if (tty_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

void Progress::finish() {
  if (tty_ && drawn_) {
    std::fprintf(stderr, "\n");
    drawn_ = false;
  }
}

}  // namespace instruct
