// Open MPI when built with it (INSTRUCT_MPI); the single-process fallback otherwise.
#include "core/dist.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/error.hpp"

#ifdef INSTRUCT_MPI
#include <mpi.h>
#endif

namespace instruct {

namespace {
Dist g_dist;
[[maybe_unused]] bool g_mpi = false;
}  // namespace

void dist_init(int* argc, char*** argv) {
  // Open MPI's launcher sets these for every rank it starts.
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!size || std::atoi(size) <= 1) return;
#ifdef INSTRUCT_MPI
  MPI_Init(argc, argv);
  g_mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_dist.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_dist.size);
#else
  (void)argc, (void)argv;
  fail("this instruct was built without MPI, so mpirun would start ", size,
       " independent runs; install libopenmpi-dev and rebuild (bash scripts/setup.sh)");
#endif
}

void dist_finalize() {
#ifdef INSTRUCT_MPI
  if (g_mpi) MPI_Finalize();
  g_mpi = false;
#endif
}

const Dist& dist() {
  return g_dist;
}

void dist_allreduce_sum(double* x, size_t n) {
#ifdef INSTRUCT_MPI
  if (g_dist.size > 1)
    MPI_Allreduce(MPI_IN_PLACE, x, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
  (void)x, (void)n;
#endif
}

void dist_allreduce_sum(float* x, size_t n) {
#ifdef INSTRUCT_MPI
  // In chunks: MPI counts are int, a gpt2-xl gradient is 1.5e9 floats.
  constexpr size_t kChunk = size_t{1} << 28;
  for (size_t i = 0; g_dist.size > 1 && i < n; i += kChunk)
    MPI_Allreduce(MPI_IN_PLACE, x + i, static_cast<int>(std::min(kChunk, n - i)), MPI_FLOAT,
                  MPI_SUM, MPI_COMM_WORLD);
#else
  (void)x, (void)n;
#endif
}

void dist_barrier() {
#ifdef INSTRUCT_MPI
  if (g_dist.size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void dist_abort(int code) {
#ifdef INSTRUCT_MPI
  if (g_mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace instruct
