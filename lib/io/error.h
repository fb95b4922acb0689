#pragma once
#include <stdexcept>
#include <string>

namespace saddlescope::io {

// A file that cannot be read or is not what it claims to be (missing, not HDF5, wrong `format`,
// wrong shapes, non-finite values...). Tools map it to exit code 3. what() is one line that names the
// file and the problem; path() is the file alone.
class FileError : public std::runtime_error {
 public:
  FileError(const std::string& path, const std::string& problem)
      : std::runtime_error(path + ": " + problem), path_(path) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace saddlescope::io
