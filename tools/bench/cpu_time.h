#pragma once
// CPU seconds (user + sys) of this process, the unit of every benchmark figure under tools/bench
// (timings on the shared machine are compared as CPU time, side by side with the peer).
#include <sys/resource.h>

namespace saddlescope::bench {

inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace saddlescope::bench
