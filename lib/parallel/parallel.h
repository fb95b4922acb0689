#pragma once
// Processes that share one job (DESIGN.md, "Reproducibility and parallelism"; docs/distributed.md):
// the MPI ranks of `mpirun -n P <tool> ...`, or one process when the tool was not launched by an MPI
// launcher or the library was built without MPI (SADDLESCOPE_MPI=OFF). Everything here works in both
// cases; with one rank every call is local and cheap.
//
// Two ways a job is split:
// - Data-parallel: every rank holds its shard of the data set (io/shard.h) and the same parameter
//   vector; each product is a local sum combined by sum_in_place (parallel/data_parallel.h). Every rank
//   then runs the same solver on the same replicated vectors.
// - Work-parallel: a sweep's work items (Monte Carlo blocks, splitting repetitions, starts, grid points,
//   SLQ probes) are dealt out, item i to rank i mod P (owns_item), each computed from its own random
//   stream keyed by the item; share_items gives every rank every item's record, in item order, and the
//   reduction that follows runs in item order on every rank. So results are bitwise identical for any
//   number of ranks (and threads).
// While a data-parallel objective exists, every rank takes part in every product, so work items are not
// dealt out (work_ranks() is 1, owns_item is true for every item): ranks stay in lock step.
//
// Failure: a rank that fails cannot finish a collective. The command-line layer (cli::run_tool) prints
// the failing rank's one-line message and calls abort(), which ends every rank (MPI_Abort).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace saddlescope::parallel {

// True when the library was built with MPI (SADDLESCOPE_MPI).
bool built_with_mpi();

// True when this process was started by an MPI launcher (mpirun/mpiexec, or srun with PMI): one of
// OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK is in the environment.
bool launched_by_mpi_launcher();

// Starts MPI when built with it and launched by a launcher; otherwise (and when called twice) does
// nothing, so a plain run never loads or initialises MPI's runtime. Call before anything else reads
// rank() (cli::run_tool does). Throws std::runtime_error when MPI_Init fails.
void initialize(int* argc, char*** argv);
// Finalizes MPI if initialize started it (idempotent).
void finalize();

// This process's rank in [0, size()) and the number of ranks (0 and 1 without MPI).
int rank();
int size();
bool is_root();  // rank() == 0: the rank that prints and writes files

// Ends every rank of the job with exit status `code` (MPI_Abort), or this process (std::_Exit) when
// there is one rank. For the command-line layer only; the library never aborts.
[[noreturn]] void abort_job(int code);

// Waits until every rank arrives.
void barrier();

// Element-wise sum over ranks, in place; afterwards every rank holds the same bits (one MPI_Allreduce;
// Open MPI's algorithms for a commutative operation hand every rank the same reduced values, and
// docs/distributed.md states the check). A no-op with one rank.
void sum_in_place(std::span<double> values);

// Rank 0's `values` on every rank, resized to rank 0's length (one MPI_Bcast of the length, then of the
// values); a no-op with one rank. Collective over all ranks, for state that rank 0 alone reads from a
// file, e.g. the partial slice of `loss-slice --resume`.
void broadcast_from_root(std::vector<double>& values);

// --- Work items -----------------------------------------------------------------------------------
// Ranks that share out work items (size(); 1 while a data-parallel objective exists or inside an
// ItemScope on this thread) and this process's place among them.
int work_ranks();
int work_rank();
// True when this rank computes work item `item` (item mod work_ranks() == work_rank()).
bool owns_item(std::int64_t item);

// `records` has one entry per work item; on entry the items this rank owns hold their records (any
// length, possibly 0) and the others are ignored. On return every entry holds its item's record, on
// every rank. Integers in records must be below 2^53 in magnitude (exact as doubles).
void share_items(std::vector<std::vector<double>>& records);

// The sum of `value` over the work ranks (itself when items are not dealt out), e.g. a count of
// products each rank made for its own items.
double work_sum(double value);

// While an instance exists, work items are not dealt out (see above). Held by DataParallelObjective.
class CollectiveScope {
 public:
  CollectiveScope();
  ~CollectiveScope();
  CollectiveScope(const CollectiveScope&) = delete;
  CollectiveScope& operator=(const CollectiveScope&) = delete;
};

// Marks the calling thread as computing one work item while it exists: sweeps nested inside the item
// (the SLQ of a classification at one grid point or start) run whole on this thread, not dealt out
// again, since the other ranks are busy with their own items and could not join the collectives.
class ItemScope {
 public:
  ItemScope();
  ~ItemScope();
  ItemScope(const ItemScope&) = delete;
  ItemScope& operator=(const ItemScope&) = delete;
};

// "rank r of P" for messages; empty with one rank.
std::string rank_label();

}  // namespace saddlescope::parallel
