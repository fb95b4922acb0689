#pragma once
// The one place a run's thread count is decided and applied (Eigen's GEMMs, OpenMP loops, OpenBLAS's
// LAPACK kernels), and capped at the cores this process may run on.
//
// Why a cap: Eigen's parallel GEMM synchronises its threads by busy-waiting on atomics (no yield), and
// OpenBLAS's pthread workers spin as well. With more threads than cores, a thread that waits for a
// descheduled peer spins for the rest of its time slice on every synchronisation — hundreds per GEMM,
// thousands of GEMMs per Lanczos run — which made a Lanczos run 60× slower at 3 threads on 2 cores
// (issue #17, item 11). Above the core count no speed is to be had, so the count is capped and the
// tool says so on stderr; results do not depend on the count either way.
//
// BLAS inside OpenMP: OpenBLAS gets the same count, and library code never calls a threaded LAPACK
// kernel from inside an OpenMP worker (curvature::inertia_ldlt_in_place uses its unblocked loop
// there), so the two never multiply.
#include <string>

namespace saddlescope::cli {

struct ThreadSetting {
  int requested = 1;  // what --threads asked for
  int cores = 1;      // cores available to this process (its CPU affinity mask)
  int used = 1;       // min(requested, cores)
  std::string note;   // empty, or one line saying why `used` < `requested`
};

// Cores this process may run on: the size of its CPU affinity mask (taskset, cgroup cpusets), ≥ 1.
int available_cores();

// The decision alone (pure): used = min(requested, cores), with the note when that caps. Throws
// std::invalid_argument when requested < 1 or cores < 1.
ThreadSetting plan_threads(int requested, int cores);

// plan_threads(requested, available_cores()), applied to Eigen, OpenMP and OpenBLAS.
ThreadSetting set_threads(int requested);

}  // namespace saddlescope::cli
