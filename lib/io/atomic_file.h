#pragma once
// An HDF5 file written under a temporary name and renamed into place by commit(), so readers see
// either the previous file or the complete new one. Destroying it uncommitted removes the temporary.
#include <string>

#include "io/hdf5.h"

namespace saddlescope::io {

class AtomicH5File {
 public:
  explicit AtomicH5File(std::string path);
  AtomicH5File(const AtomicH5File&) = delete;
  AtomicH5File& operator=(const AtomicH5File&) = delete;
  ~AtomicH5File();

  hid_t get() const { return handle_.get(); }
  const std::string& path() const { return path_; }
  // Flushes, closes, fsyncs and renames over `path`. Throws FileError on failure.
  void commit();

 private:
  std::string path_;
  std::string temporary_;
  h5::Handle handle_;
  bool committed_ = false;
};

}  // namespace saddlescope::io
