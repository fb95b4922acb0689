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

// Throws FileError (one line naming `path`) when the file is missing, is not a regular file (a FIFO,
// a device: io/file_checks.h), is not HDF5, is truncated or otherwise unreadable, is of another format
// or a newer version than `newest_supported`, or reaches outside itself (check_self_contained).
OpenedFile open_saddlescope_file(const std::string& path, const std::string& format, std::int64_t newest_supported,
                                 bool swmr_read = false);

// An untrusted file is data, never a key to the disk (issue #17, item 7). HDF5 lets a file name other
// files: external links (to an object in any file), user-defined links, datasets with external
// storage (raw data in any local file, e.g. /params read from /etc/shadow) and virtual datasets
// (mapped from datasets in other files). Each would make a tool read, and echo back, a file the user
// never named. Throws FileError naming the object and the kind of reference when the file holds any
// of them. Soft links stay inside the file once no external link exists (a soft link names a path in
// its own file), so they are allowed. With `own_views` (the run log, read as ours) virtual datasets
// are allowed when every mapping's source is this file (".") and a dataset under /_tables, which is
// how io::RunLog writes them. The walk only opens objects (H5Oopen) and reads creation properties; it
// reads no data.
void check_self_contained(hid_t file, const std::string& path, bool own_views = false);

// Names of the links directly inside a group, in name order.
std::vector<std::string> list_links(hid_t group);

}  // namespace saddlescope::io
