#include "cli/threads.h"

#include <omp.h>
#include <sched.h>

#include <Eigen/Core>
#include <stdexcept>
#include <thread>

// OpenBLAS's thread control (cblas.h of libopenblas-dev declares it; declared here so that the header
// path, which differs between Debian's pthread and openmp variants, does not matter).
extern "C" void openblas_set_num_threads(int num_threads);

namespace saddlescope::cli {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

ThreadSetting plan_threads(int requested, int cores) {
  if (requested < 1) throw std::invalid_argument("--threads must be >= 1, got " + std::to_string(requested));
  if (cores < 1) throw std::invalid_argument("plan_threads: cores must be >= 1, got " + std::to_string(cores));
  ThreadSetting s;
  s.requested = requested;
  s.cores = cores;
  s.used = std::min(requested, cores);
  if (s.used < requested)
    s.note = "--threads " + std::to_string(requested) + " exceeds the " + std::to_string(cores) +
             " cores available; using " + std::to_string(s.used) +
             " (more threads than cores make busy-waiting GEMM threads slower, never faster)";
  return s;
}

ThreadSetting set_threads(int requested) {
  const ThreadSetting s = plan_threads(requested, available_cores());
  Eigen::setNbThreads(s.used);
  omp_set_num_threads(s.used);
  openblas_set_num_threads(s.used);
  return s;
}

}  // namespace saddlescope::cli
