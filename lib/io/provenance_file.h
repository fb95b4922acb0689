#pragma once
// The HDF5 side of provenance (provenance.h holds the value, free of HDF5 so that algorithm headers that
// carry a Provenance — checkpoints, results — do not pull <hdf5.h> in): writing the root attributes of a
// saddlescope file and reading them back with the format check.
#include <hdf5.h>

#include <cstdint>
#include <string>

#include "io/provenance.h"

namespace saddlescope::io {

// Root attributes of every saddlescope file: format, format_version, created_by, git_commit,
// command_line, created_at, seeds (JSON).
void write_provenance(hid_t file, const std::string& format, std::int64_t format_version, const Provenance& p);

// Opens nothing: reads the root attributes of an open file. Throws FileError naming `path` when the
// file is not a saddlescope file, is of another format than `expected_format`, or has a
// format_version above `newest_supported`.
FileHeader read_and_check_header(hid_t file, const std::string& path, const std::string& expected_format,
                                 std::int64_t newest_supported);

}  // namespace saddlescope::io
