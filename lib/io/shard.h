#pragma once
// Which rows of a data set one process reads when a job is split over P processes (MPI ranks,
// docs/distributed.md). The rule, shared by every reader and by parallel::DataParallelObjective:
//     part r of P holds the contiguous rows [⌊rN/P⌋, ⌊(r+1)N/P⌋) of the N samples,
// so the parts cover [0, N) in order, without overlap, and differ in size by at most one row. A
// contiguous block is one hyperslab read per dataset and keeps a sample's row where the file has it.
#include <cstdint>
#include <string>

namespace saddlescope::io {

struct RowShard {
  std::int64_t part = 0;   // r, 0 <= r < parts
  std::int64_t parts = 1;  // P >= 1; the default reads everything

  bool whole() const { return parts == 1; }
  // First row of this part and one past its last, for a data set of `rows` samples. P·N stays far
  // below 2^63 (N <= 2^28 by the readers' limits, P <= 2^31 ranks).
  std::int64_t begin(std::int64_t rows) const { return part * rows / parts; }
  std::int64_t end(std::int64_t rows) const { return (part + 1) * rows / parts; }
  std::string describe() const { return "part " + std::to_string(part) + " of " + std::to_string(parts); }
};

}  // namespace saddlescope::io
