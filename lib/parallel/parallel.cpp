#include "parallel/parallel.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <stdexcept>

#ifdef SADDLESCOPE_HAVE_MPI
// The C API only: without these, <mpi.h> in a C++ file pulls in the deprecated C++ bindings, which
// live in libmpi_cxx (not linked: we use MPI::MPI_C).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace saddlescope::parallel {
namespace {

int g_rank = 0;
int g_size = 1;
#ifdef SADDLESCOPE_HAVE_MPI
bool g_started = false;  // this library called MPI_Init
#endif
std::atomic<int> g_collective_scopes{0};
thread_local int t_item_depth = 0;  // ItemScopes alive on this thread

bool items_shared() { return g_collective_scopes.load() == 0 && t_item_depth == 0; }

}  // namespace

bool built_with_mpi() {
#ifdef SADDLESCOPE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi_launcher() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; MPICH/Hydra and Slurm's srun --mpi=pmi2 set PMI_SIZE;
  // PMIx launchers (srun --mpi=pmix, prterun) set PMIX_RANK.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

void initialize(int* argc, char*** argv) {
#ifdef SADDLESCOPE_HAVE_MPI
  if (g_started || !launched_by_mpi_launcher()) return;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    // Only the main thread calls MPI (worker threads compute items and never communicate).
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw std::runtime_error("MPI_Init_thread failed");
    g_started = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
#else
  (void)argc;
  (void)argv;
#endif
}

void finalize() {
#ifdef SADDLESCOPE_HAVE_MPI
  if (!g_started) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  g_started = false;
  g_rank = 0;
  g_size = 1;
#endif
}

int rank() { return g_rank; }
int size() { return g_size; }
bool is_root() { return g_rank == 0; }

void abort_job(int code) {
#ifdef SADDLESCOPE_HAVE_MPI
  if (g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

void barrier() {
#ifdef SADDLESCOPE_HAVE_MPI
  if (g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

#ifdef SADDLESCOPE_HAVE_MPI
namespace {
// MPI counts are int: calls `op(pointer, count)` on pieces of at most INT_MAX elements.
template <class Op>
void in_pieces(std::span<double> values, Op op) {
  for (std::size_t done = 0; done < values.size();) {
    const std::size_t piece = std::min<std::size_t>(values.size() - done, INT_MAX);
    op(values.data() + done, static_cast<int>(piece));
    done += piece;
  }
}
}  // namespace
#endif

void sum_in_place(std::span<double> values) {
#ifdef SADDLESCOPE_HAVE_MPI
  if (g_size == 1) return;
  in_pieces(values, [](double* p, int n) { MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); });
#else
  (void)values;
#endif
}

void broadcast_from_root(std::vector<double>& values) {
#ifdef SADDLESCOPE_HAVE_MPI
  if (g_size == 1) return;
  auto length = static_cast<long long>(values.size());
  MPI_Bcast(&length, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  values.resize(static_cast<std::size_t>(length));
  in_pieces(values, [](double* p, int n) { MPI_Bcast(p, n, MPI_DOUBLE, 0, MPI_COMM_WORLD); });
#else
  (void)values;
#endif
}

int work_ranks() { return items_shared() ? g_size : 1; }
int work_rank() { return items_shared() ? g_rank : 0; }
bool owns_item(std::int64_t item) { return item % work_ranks() == work_rank(); }

double work_sum(double value) {
  if (work_ranks() > 1) sum_in_place(std::span<double>(&value, 1));
  return value;
}

void share_items(std::vector<std::vector<double>>& records) {
#ifdef SADDLESCOPE_HAVE_MPI
  const int ranks = work_ranks();
  if (ranks == 1) return;
  const auto items = static_cast<std::int64_t>(records.size());
  // This rank's items in item order, each as [length, values...].
  std::vector<double> packed;
  for (std::int64_t i = g_rank; i < items; i += ranks) {
    const auto& record = records[static_cast<std::size_t>(i)];
    packed.push_back(static_cast<double>(record.size()));
    packed.insert(packed.end(), record.begin(), record.end());
  }
  const auto mine = static_cast<long long>(packed.size());
  std::vector<long long> lengths(static_cast<std::size_t>(ranks));
  MPI_Allgather(&mine, 1, MPI_LONG_LONG, lengths.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD);
  std::vector<int> counts(static_cast<std::size_t>(ranks)), offsets(static_cast<std::size_t>(ranks));
  long long total = 0;
  for (int r = 0; r < ranks; ++r) {
    offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
    counts[static_cast<std::size_t>(r)] = static_cast<int>(lengths[static_cast<std::size_t>(r)]);
    total += lengths[static_cast<std::size_t>(r)];
    if (total > INT_MAX) throw std::length_error("share_items: more than INT_MAX doubles of records");
  }
  std::vector<double> all(static_cast<std::size_t>(total));
  MPI_Allgatherv(packed.data(), static_cast<int>(mine), MPI_DOUBLE, all.data(), counts.data(), offsets.data(),
                 MPI_DOUBLE, MPI_COMM_WORLD);
  for (int r = 0; r < ranks; ++r) {
    std::size_t at = static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]);
    for (std::int64_t i = r; i < items; i += ranks) {
      const auto length = static_cast<std::size_t>(all[at]);
      records[static_cast<std::size_t>(i)].assign(all.begin() + static_cast<std::ptrdiff_t>(at + 1),
                                                   all.begin() + static_cast<std::ptrdiff_t>(at + 1 + length));
      at += 1 + length;
    }
  }
#else
  (void)records;
#endif
}

CollectiveScope::CollectiveScope() { ++g_collective_scopes; }
CollectiveScope::~CollectiveScope() { --g_collective_scopes; }

ItemScope::ItemScope() { ++t_item_depth; }
ItemScope::~ItemScope() { --t_item_depth; }

std::string rank_label() {
  return g_size > 1 ? "rank " + std::to_string(g_rank) + " of " + std::to_string(g_size) : std::string();
}

}  // namespace saddlescope::parallel
