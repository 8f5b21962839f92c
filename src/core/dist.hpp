// Data-parallel processes: which rank this is, and the one collective training needs (a sum over
// ranks). Under `mpirun -np N` (Open MPI) the ranks are MPI's; run alone, or built without MPI,
// this is rank 0 of 1 and every call is a no-op.
#pragma once

#include <cstddef>

namespace instruct {

struct Dist {
  int rank = 0, size = 1;
  bool writer() const { return rank == 0; }  // rank 0 alone writes files and logs
};

// Joins the MPI job when launched by mpirun (before anything else in main); otherwise does nothing.
void dist_init(int* argc, char*** argv);
void dist_finalize();
const Dist& dist();
// Sums x over all ranks, in place (every rank gets the sum).
void dist_allreduce_sum(double* x, size_t n);
void dist_allreduce_sum(float* x, size_t n);
// Waits until every rank has reached it: where a rank reads what rank 0 wrote (the model after
// training, before the next stage loads it), rank 0 writes, then all meet here.
void dist_barrier();
// Ends every rank of the job after an error on this one (a lone failing rank would leave the
// others waiting in a collective forever).
[[noreturn]] void dist_abort(int code);

}  // namespace instruct
