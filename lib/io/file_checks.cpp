#include "io/file_checks.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/error.h"

namespace saddlescope::io {

PathKind path_kind(const std::string& path, std::string* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (what != nullptr) *what = std::strerror(errno);
    return PathKind::missing;
  }
  if (S_ISREG(st.st_mode)) return PathKind::regular;
  if (S_ISDIR(st.st_mode)) return PathKind::directory;
  if (what != nullptr) {
    if (S_ISFIFO(st.st_mode)) *what = "a FIFO";
    else if (S_ISCHR(st.st_mode)) *what = "a character device";
    else if (S_ISBLK(st.st_mode)) *what = "a block device";
    else if (S_ISSOCK(st.st_mode)) *what = "a socket";
    else *what = "not a regular file";
  }
  return PathKind::other;
}

void require_regular_input(const std::string& path) {
  std::string what;
  switch (path_kind(path, &what)) {
    case PathKind::regular:
      return;
    case PathKind::missing:
      throw FileError(path, what == std::strerror(ENOENT) ? std::string("no such file") : "cannot be read: " + what);
    case PathKind::directory:
      throw FileError(path, "is a directory, not an HDF5 file");
    case PathKind::other:
      throw FileError(path, "is " + what + ", not a regular file (refused: reading it could block for ever)");
  }
}

namespace {

// The file's location with every existing part resolved (symlinks, `.`, `..`), the rest appended.
std::filesystem::path location(const std::string& path) {
  std::error_code ec;
  auto resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? std::filesystem::absolute(path).lexically_normal() : resolved;
}

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return location(a) == location(b);
}

}  // namespace saddlescope::io
