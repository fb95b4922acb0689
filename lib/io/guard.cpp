#include "io/guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "io/checkpoint.h"
#include "io/error.h"
#include "io/hdf5.h"

// Set by the sanitizer runtimes (ASan, UBSan, libFuzzer's use of them); null in a plain build.
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)(void));

namespace saddlescope::io {
namespace {

using h5::Handle;

// Largest attribute or dataset block the probe reads at once (elements): bounds the child's memory
// whatever the file claims; larger datasets are read in blocks along their first dimension.
constexpr hssize_t kMaxAttributeElements = hssize_t{1} << 20;
constexpr hsize_t kBlockElements = hsize_t{1} << 22;
// Strings: count and bytes bounds, as for the readers (h5::read_string_attribute refuses > 16 MiB).
constexpr hssize_t kMaxStrings = hssize_t{1} << 16;
constexpr std::size_t kMaxStringBytes = std::size_t{1} << 24;

bool is_number(H5T_class_t c) { return c == H5T_INTEGER || c == H5T_FLOAT; }

// The child's exit code when libhdf5 could not list an object's attributes or a group's links. A good
// file always lists; a corrupt table can still answer a lookup by name (H5Aopen of a name the readers
// know), so what the probe could not reach it cannot vouch for: a fuzzed checkpoint whose root
// attribute index fails to iterate still let the parent's by-name read of 'format' loop forever in
// H5HG_read (tests/fuzz/corpus/checkpoint/libhdf5_hang_vlen_string_attribute_unlistable_attribute_index.h5).
constexpr int kUnlistedExit = 86;

void probe_attribute(hid_t object, const char* name) {
  Handle attr(h5::check(H5Aopen(object, name, H5P_DEFAULT), "opening an attribute"), H5Aclose);
  Handle type(h5::check(H5Aget_type(attr.get()), "attribute type"), H5Tclose);
  Handle space(h5::check(H5Aget_space(attr.get()), "attribute shape"), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING && n == 1) {
    (void)h5::read_string_attribute(object, name);  // the readers' own code path
  } else if (is_number(cls) && n > 0 && n <= kMaxAttributeElements) {
    std::vector<double> values(static_cast<std::size_t>(n));
    H5Aread(attr.get(), H5T_NATIVE_DOUBLE, values.data());
  }
}

herr_t probe_attribute_callback(hid_t object, const char* name, const H5A_info_t*, void*) {
  try {
    probe_attribute(object, name);
  } catch (...) {  // an error is the parent's to report; go on with the next attribute
  }
  return 0;
}

// Sets `*unlisted` when libhdf5 cannot list the object's attributes (the callback never fails: a
// negative return is libhdf5's own).
void probe_attributes(hid_t object, bool* unlisted) {
  hsize_t index = 0;
  if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &index, probe_attribute_callback, nullptr) < 0)
    *unlisted = true;
}

void probe_strings(hid_t dataset, hid_t type, hid_t space, hssize_t n) {
  if (n <= 0 || n > kMaxStrings) return;
  const htri_t variable = H5Tis_variable_str(type);
  if (variable > 0) {
    Handle memtype(h5::check(H5Tcopy(H5T_C_S1), "string type"), H5Tclose);
    H5Tset_size(memtype.get(), H5T_VARIABLE);
    std::vector<char*> strings(static_cast<std::size_t>(n), nullptr);
    // Reclaimed whether or not the read succeeds: a conversion that fails part way has allocated the
    // strings before the failing one (the rest stay null, which reclaiming skips).
    H5Dread(dataset, memtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, strings.data());
    H5Dvlen_reclaim(memtype.get(), space, H5P_DEFAULT, strings.data());
  } else if (variable == 0) {
    const std::size_t size = H5Tget_size(type);
    if (size == 0 || size > kMaxStringBytes / static_cast<std::size_t>(n)) return;
    Handle memtype(h5::check(H5Tcopy(H5T_C_S1), "string type"), H5Tclose);
    H5Tset_size(memtype.get(), size);
    H5Tset_cset(memtype.get(), H5Tget_cset(type));
    std::string buffer(size * static_cast<std::size_t>(n), '\0');
    H5Dread(dataset, memtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data());
  }
}

void probe_numbers(hid_t dataset, hid_t space) {
  // Larger datasets are refused by every reader from their shape alone (before reading), and a lazily
  // allocated 2^40-element dataspace would take the probe hours of fill values.
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0 || static_cast<std::uint64_t>(n) > kMaxElementsPerDataset) return;
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0 || rank > 32) return;
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) return;
  hsize_t row = 1;  // elements per index of the first dimension
  for (int d = 1; d < rank; ++d) {
    if (dims[d] != 0 && row > kBlockElements / dims[d]) return;  // one row alone is too large to probe
    row *= dims[d];
  }
  if (rank == 0 || row == 0) {
    double value = 0;
    if (rank == 0) H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);
    return;
  }
  const hsize_t rows_per_block = std::max<hsize_t>(1, kBlockElements / row);
  std::vector<double> buffer;
  for (hsize_t first = 0; first < dims[0]; first += rows_per_block) {
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = first;
    count[0] = std::min(rows_per_block, dims[0] - first);
    buffer.resize(static_cast<std::size_t>(count[0] * row));
    Handle file_space(h5::check(H5Scopy(space), "copying a dataspace"), H5Sclose);
    if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0) return;
    Handle memory_space(h5::check(H5Screate_simple(rank, count.data(), nullptr), "a dataspace"), H5Sclose);
    if (H5Dread(dataset, H5T_NATIVE_DOUBLE, memory_space.get(), file_space.get(), H5P_DEFAULT, buffer.data()) < 0)
      return;
  }
}

// Data kept outside the file (external storage, virtual datasets) is not read: the parent refuses
// such files (io::check_self_contained), and reading them would make the child open other files.
bool data_outside_the_file(hid_t dataset) {
  Handle dcpl(h5::check(H5Dget_create_plist(dataset), "dataset properties"), H5Pclose);
  return H5Pget_external_count(dcpl.get()) != 0 || H5Pget_layout(dcpl.get()) == H5D_VIRTUAL;
}

void probe_dataset(hid_t dataset) {
  if (data_outside_the_file(dataset)) return;
  // Declared far beyond what the file stores (unwritten, or a compression bomb): every reader refuses it
  // from its shape and storage alone, and reading it would cost its declared size (h5::storage_shortfall).
  if (!h5::storage_shortfall(dataset, "").empty()) return;
  Handle type(h5::check(H5Dget_type(dataset), "dataset type"), H5Tclose);
  Handle space(h5::check(H5Dget_space(dataset), "dataset shape"), H5Sclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING) probe_strings(dataset, type.get(), space.get(), H5Sget_simple_extent_npoints(space.get()));
  if (is_number(cls)) probe_numbers(dataset, space.get());
}

// `data`: read_every_object's bool "something could not be listed".
herr_t probe_link_callback(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  // Hard links only: soft links name objects visited anyway, external links leave the file.
  if (info == nullptr || info->type != H5L_TYPE_HARD) return 0;
  try {
    Handle object(h5::check(H5Oopen(group, name, H5P_DEFAULT), "opening an object"), H5Oclose);
    probe_attributes(object.get(), static_cast<bool*>(data));
    if (H5Iget_type(object.get()) == H5I_DATASET) probe_dataset(object.get());
  } catch (...) {  // as above: the parent reports errors, the probe only looks for crashes and hangs
  }  // an object that does not open is not "unlisted": the parent's open of it fails the same way
  return 0;
}

double base_timeout_seconds() {
  const char* text = std::getenv("SADDLESCOPE_HDF5_GUARD_TIMEOUT");
  if (text != nullptr) {
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    if (end != text && value > 0 && value < 1e6) return value;
  }
  return 10.0;
}

bool guard_enabled() {
  const char* text = std::getenv("SADDLESCOPE_HDF5_GUARD");
  return text == nullptr || !(std::strcmp(text, "off") == 0 || std::strcmp(text, "0") == 0);
}

[[noreturn]] void run_child(const std::string& path, bool swmr_read) {
  // The child's only job is to survive or not. A sanitizer report must not run the fuzzer's death
  // callback (it would save the input as a crash of the fuzz target); fatal signals end the child
  // plainly, without a core file; nothing it says reaches the tool's stderr.
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGALRM}) ::signal(sig, SIG_DFL);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  const int null = ::open("/dev/null", O_WRONLY);
  if (null >= 0) {
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
  }
  // _exit: no exit handlers, the parent's HDF5 files and stdio buffers are the parent's.
  ::_exit(read_every_object(path, swmr_read) ? 0 : kUnlistedExit);
}

}  // namespace

bool read_every_object(const std::string& path, bool swmr_read) {
  bool unlisted = false;
  try {
    Handle file = h5::open_file(path, false, swmr_read);
    probe_attributes(file.get(), &unlisted);
    if (H5Lvisit(file.get(), H5_INDEX_NAME, H5_ITER_NATIVE, probe_link_callback, &unlisted) < 0) unlisted = true;
  } catch (...) {  // unopenable: the parent's open reports it
  }
  return !unlisted;
}

void check_hdf5_file_survives_reading(const std::string& path, bool swmr_read) {
  if (!guard_enabled()) return;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  // Reading runs at hundreds of MB/s; 25 MB/s on top of the base leaves room for a loaded machine.
  const double timeout = base_timeout_seconds() + (ec ? 0.0 : static_cast<double>(bytes) / 25e6);
  h5::silence_errors();  // before the fork, so the child does not print HDF5's error stack either
  const pid_t child = ::fork();
  if (child < 0) return;  // cannot fork (process limit): read unguarded rather than refuse a good file
  if (child == 0) run_child(path, swmr_read);

  const auto start = std::chrono::steady_clock::now();
  auto pause = std::chrono::microseconds(50);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return;  // not ours to wait for (SIGCHLD ignored): unguarded
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.0f", timeout);
      throw FileError(path, std::string("is corrupt (libhdf5 hung while reading it: no end after ") + seconds +
                                " s in a guarded child process)");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kUnlistedExit)
    throw FileError(path, "is corrupt (libhdf5 cannot list its attributes or links, so it was not read further)");
  const std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                              : "exit code " + std::to_string(WEXITSTATUS(status)) + " from a sanitizer";
  throw FileError(path, "is corrupt (libhdf5 crashed while reading it: " + how + " in a guarded child process)");
}

}  // namespace saddlescope::io
