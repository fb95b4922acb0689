#include "io/writer_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/error.h"

namespace saddlescope::io {
namespace {

constexpr const char* kBusy =
    "is being written by another process (it holds the file's writer lock); give another output path, or wait "
    "for that run to end";

// The whole-file OFD lock on `fd`: a write lock when `exclusive`, else a read lock.
bool ofd_lock(int fd, bool exclusive) {
  struct flock lock {};
  lock.l_type = exclusive ? F_WRLCK : F_RDLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;
  return ::fcntl(fd, F_OFD_SETLK, &lock) == 0;
}

// Opens `path` to lock it: read-write when we may (a write lock), else read-only (a read lock).
int open_for_lock(const std::string& path, bool& exclusive) {
  exclusive = true;
  int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    exclusive = false;
    fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  }
  return fd;
}

// Takes both marks' tests on `fd`: our OFD lock, and a shared flock (refused while HDF5 writes the
// file: it holds an exclusive one; readers' shared flocks do not conflict).
bool lock_against_writers(int fd, bool exclusive) {
  return ofd_lock(fd, exclusive) && ::flock(fd, LOCK_SH | LOCK_NB) == 0;
}

}  // namespace

WriterLock WriterLock::acquire(const std::string& path) {
  bool exclusive = true;
  WriterLock lock;
  lock.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (lock.fd_ < 0) throw FileError(path, std::string("cannot be locked: ") + std::strerror(errno));
  if (!ofd_lock(lock.fd_, exclusive)) {
    const int error = errno;
    lock.release();
    if (error == EAGAIN || error == EACCES) throw FileError(path, kBusy);
    throw FileError(path, std::string("cannot be locked: ") + std::strerror(error));
  }
  return lock;
}

WriterLock& WriterLock::operator=(WriterLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void WriterLock::release() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool held_by_a_writer(const std::string& path) {
  bool exclusive = true;
  const int fd = open_for_lock(path, exclusive);
  if (fd < 0) return false;
  const bool free = lock_against_writers(fd, exclusive);
  ::close(fd);  // drops both test locks
  return !free;
}

void install_without_replacing_a_live_writer(const std::string& temporary, const std::string& path) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
    if (errno != EEXIST && errno != EINVAL && errno != ENOSYS)  // EINVAL/ENOSYS: no RENAME_NOREPLACE here
      throw FileError(path, "cannot be replaced: renaming " + temporary + ": " + std::strerror(errno));
    // A file is there: ours to replace only when no writer holds it, and only while we hold it.
    bool exclusive = true;
    const int fd = open_for_lock(path, exclusive);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // gone meanwhile: try the plain rename again
      throw FileError(path, std::string("cannot be replaced: ") + std::strerror(errno));
    }
    if (!lock_against_writers(fd, exclusive)) {
      const int error = errno;
      ::close(fd);
      if (error == EAGAIN || error == EACCES || error == EWOULDBLOCK) throw FileError(path, kBusy);
      throw FileError(path, std::string("cannot be locked: ") + std::strerror(error));
    }
    struct stat held {}, named {};
    const bool same = ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
                      held.st_ino == named.st_ino;
    if (same) {
      const int renamed = ::rename(temporary.c_str(), path.c_str());
      const int error = errno;
      ::close(fd);
      if (renamed != 0) throw FileError(path, "cannot be replaced: renaming " + temporary + ": " + std::strerror(error));
      return;
    }
    ::close(fd);  // replaced while we locked it: look again
  }
  throw FileError(path, "cannot be replaced: it keeps changing under another writer");
}

}  // namespace saddlescope::io
