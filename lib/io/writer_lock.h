#pragma once
// One writer per output file (issue #17, items 2 and 5).
//
// saddlescope writes two kinds of file in place while a run goes on: the run log (SWMR, io/run_log.h)
// and the resumable loss-slice result. Both are built under a temporary name and renamed into place;
// a plain rename would replace a file another process is still writing (it then writes on, into a
// file no name reaches: its results are lost while both runs report success). So a writer is marked,
// and the rename never replaces a marked file:
//  - a run log's writer holds a WriterLock: an open-file-description write lock (fcntl F_OFD_SETLK on
//    the whole file). HDF5 drops its own flock(2) when SWMR writing starts, and SWMR readers take a
//    shared flock, so the run log needs a lock of another kind; Linux keeps OFD locks and flock apart.
//  - a file HDF5 has open for writing outside SWMR (the loss-slice result) is marked by HDF5's own
//    exclusive flock, held as long as the file is open (unless HDF5_USE_FILE_LOCKING=FALSE).
// Both locks belong to the open file, not the name, so they follow the file through the rename and
// vanish with the writer (exit, crash or SIGKILL alike): a finished or killed run's file is free.
#include <string>

namespace saddlescope::io {

// An OFD write lock on a file, released on destruction (or when the process ends).
class WriterLock {
 public:
  WriterLock() = default;
  // Locks `path` (an existing file we may write). Throws FileError(path, "is being written by another
  // process ...") when another writer holds it, FileError with the system's reason otherwise.
  static WriterLock acquire(const std::string& path);
  WriterLock(WriterLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  WriterLock& operator=(WriterLock&& other) noexcept;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock() { release(); }
  void release() noexcept;
  bool held() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// True when a live writer holds `path` (either mark above). False for a missing or unreadable file.
bool held_by_a_writer(const std::string& path);

// Renames `temporary` to `path` unless a live writer holds the file at `path`: without replacing
// anything (renameat2 RENAME_NOREPLACE) when `path` is free, or, over an existing file, only while
// holding that file's lock and after checking `path` still names it. Throws FileError(path, "is being
// written by another process ...") when a writer holds it, FileError with the reason otherwise.
void install_without_replacing_a_live_writer(const std::string& temporary, const std::string& path);

}  // namespace saddlescope::io
