// Process and machine facts for logs: wall time, peak resident memory, the CPU's name and flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace instruct {

// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
int64_t peak_rss_bytes();
// Memory this process can still take: MemAvailable, capped by a cgroup v2 limit; 0 if unknown.
int64_t memory_available_bytes();
std::string format_bytes(int64_t bytes);
// The CPU as /proc/cpuinfo names it ("AMD EPYC 9B14"), "unknown CPU" if it cannot be read.
std::string cpu_model_name();
// The feature flags of /proc/cpuinfo ("avx2", "avx512f", "avx512_bf16", "amx_bf16", ...).
bool cpu_has_flag(const std::string& flag);
std::string format_duration(double seconds);

class Timer {
 public:
  Timer() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace instruct
