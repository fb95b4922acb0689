#pragma once
// A guard against HDF5 files that crash or hang libhdf5 itself.
//
// Debian's libhdf5 1.10.8 overreads the heap and loops forever (H5Aread -> H5T__conv_vlen -> H5HG_read)
// on a variable-length string attribute that points into a corrupt global heap. Our code cannot tell
// such a file from a good one before libhdf5 has read it, and vlen strings are what we and h5py write.
// So a file a user hands to a tool is first read by a forked child process under a watchdog: the child
// opens it, reads every attribute and every numeric dataset (everything a reader of ours may read),
// and exits. If the child dies of a signal, stops with a sanitizer report, or runs past its time limit,
// the parent refuses the file with one line (FileError -> exit code 3); so it does when libhdf5 cannot
// list some object's attributes or some group's links (what the probe cannot reach it cannot vouch
// for, and a corrupt table can still answer a lookup by name); otherwise the parent reads it
// for real. Errors the child meets (a missing dataset, a wrong type) are not reported by the guard:
// the parent's own read reports them with its usual message.
//
// Cost: one fork and one extra read of the file. Call it before starting worker threads that use
// HDF5 (the child inherits HDF5's global lock as it is at the fork; tools read their inputs first).
//
// Environment, for debugging and tests:
//   SADDLESCOPE_HDF5_GUARD=off            read in-process (a debugger then sees the crash itself)
//   SADDLESCOPE_HDF5_GUARD_TIMEOUT=SECS   the watchdog's base time (default 10 s; plus 1 s per 25 MB)
#include <string>

namespace saddlescope::io {

// Throws FileError(path, "... corrupt (libhdf5 crashed/hung while reading it)") when reading the file
// crashes or hangs libhdf5; returns otherwise (whether or not the file is a valid saddlescope file).
// `swmr_read` opens the file as a SWMR reader, as a follower of a live run log does.
void check_hdf5_file_survives_reading(const std::string& path, bool swmr_read = false);

// Reads everything check_hdf5_file_survives_reading reads, in this process; errors are swallowed.
// Returns false when libhdf5 could not list some object's attributes or some group's links (a corrupt
// table: check_hdf5_file_survives_reading refuses such a file, since the parent's lookups by name
// would reach what the probe could not). Exposed for the fuzz target's in-process mode and for tests.
bool read_every_object(const std::string& path, bool swmr_read = false);

}  // namespace saddlescope::io
