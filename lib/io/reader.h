#pragma once
// Opening a saddlescope file for reading, with every check a reader needs before touching content.
#include <string>
#include <vector>

#include "io/hdf5.h"
#include "io/provenance.h"

namespace saddlescope::io {

struct OpenedFile {
  h5::Handle handle;
  FileHeader header;
};

// Throws FileError (one line naming `path`) when the file is missing, is not HDF5, is truncated or
// otherwise unreadable, or is of another format or a newer version than `newest_supported`.
OpenedFile open_saddlescope_file(const std::string& path, const std::string& format, std::int64_t newest_supported,
                                 bool swmr_read = false);

// Names of the links directly inside a group, in name order.
std::vector<std::string> list_links(hid_t group);

}  // namespace saddlescope::io
