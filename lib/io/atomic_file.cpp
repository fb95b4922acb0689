#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "io/error.h"

namespace saddlescope::io {
namespace {
void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

AtomicH5File::AtomicH5File(std::string path) : path_(std::move(path)) {
  temporary_ = path_ + ".tmp-" + std::to_string(::getpid());
  try {
    handle_ = h5::create_file(temporary_);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot be created: ") + e.what());
  }
}

AtomicH5File::~AtomicH5File() {
  if (!committed_) {
    handle_.reset();
    std::remove(temporary_.c_str());
  }
}

void AtomicH5File::commit() {
  try {
    h5::check(H5Fflush(handle_.get(), H5F_SCOPE_GLOBAL), "flushing " + temporary_);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path_, std::string("cannot be written: ") + e.what());
  }
  // H5Fclose can fail too (the disk filled while the metadata cache was written), so check it.
  if (H5Fclose(handle_.release()) < 0) throw FileError(path_, "cannot be written: closing the file failed");
  fsync_path(temporary_, false);
  std::error_code ec;
  std::filesystem::rename(temporary_, path_, ec);
  if (ec) throw FileError(path_, "cannot be replaced: " + ec.message());
  committed_ = true;
  const auto parent = std::filesystem::path(path_).parent_path();
  fsync_path(parent.empty() ? std::string(".") : parent.string(), true);
}

}  // namespace saddlescope::io
