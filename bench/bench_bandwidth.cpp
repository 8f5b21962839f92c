// The machine's memory bandwidth with the threads OpenMP gives (OMP_NUM_THREADS): a copy loop
// (STREAM's convention: bytes read + bytes written per second) and a read-only loop (a sum: what a
// decoding step does to its weights), over buffers far larger than the caches, best of 5. The
// roofline bench_generate.sh divides a decoding step's weight traffic by.
// Usage: bench_bandwidth [MiB per buffer]   (default 1024)
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/sys.hpp"
#include "kernels/gemm.hpp"

using namespace instruct;

int main(int argc, char** argv) {
  const int64_t mib = argc > 1 ? std::atoll(argv[1]) : 1024;
  const int64_t n = mib * (1 << 20) / 8;  // int64 words
  std::vector<int64_t> a(n), b(n);
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) a[i] = i, b[i] = 0;
  const int threads = omp_get_max_threads();
  const int64_t chunk = (n + threads - 1) / threads;
  double copy = 1e30, read = 1e30;
  int64_t sink = 0;
  for (int rep = 0; rep < 5; rep++) {
    Timer t;
#pragma omp parallel for
    for (int k = 0; k < threads; k++) {
      const int64_t lo = k * chunk, hi = std::min(n, lo + chunk);
      if (lo < hi) std::memcpy(b.data() + lo, a.data() + lo, sizeof(int64_t) * (hi - lo));
    }
    copy = std::min(copy, t.seconds());
    Timer r;
    int64_t s = 0;
#pragma omp parallel for reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i];
    read = std::min(read, r.seconds());
    sink += s + b[rep];
  }
  const double bytes = 8.0 * n;
  std::printf("cpu       %s\n", gemm_machine_line().c_str());
  std::printf("threads   %d, buffers %lld MiB\n", threads, static_cast<long long>(mib));
  std::printf("copy      %.1f GB/s (read + write)\n", 2 * bytes / copy / 1e9);
  std::printf("read      %.1f GB/s\n", bytes / read / 1e9);
  return sink == 42 ? 1 : 0;  // keeps the sums
}
