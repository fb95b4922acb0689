#include "io/reader.h"

#include <filesystem>

#include "io/error.h"
#include "io/guard.h"
#include "io/provenance_file.h"

namespace saddlescope::io {

OpenedFile open_saddlescope_file(const std::string& path, const std::string& format, std::int64_t newest_supported,
                                 bool swmr_read) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw FileError(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) throw FileError(path, "is a directory, not an HDF5 file");
  if (!h5::is_hdf5_file(path)) throw FileError(path, "not an HDF5 file");
  // A corrupt file can crash or hang libhdf5 itself: a child process reads it first (io/guard.h).
  check_hdf5_file_survives_reading(path, swmr_read);
  OpenedFile opened;
  try {
    opened.handle = h5::open_file(path, false, swmr_read);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path, std::string("cannot be opened (truncated or damaged HDF5?): ") + e.what());
  }
  opened.header = read_and_check_header(opened.handle.get(), path, format, newest_supported);
  return opened;
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> list_links(hid_t group) {
  std::vector<std::string> names;
  h5::check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names), "listing a group");
  return names;
}

}  // namespace saddlescope::io
