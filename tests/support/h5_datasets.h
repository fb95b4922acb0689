#pragma once
// HDF5 datasets that declare more than they hold, for the tests of size checks before allocation.
#include <hdf5.h>

#include <string>
#include <vector>

#include "io/hdf5.h"

namespace saddlescope::testing {

// A float64 dataset `name` under `parent` of shape `dims`, chunked by `chunk` (deflate level `deflate`
// when > 0), created without writing anything: HDF5 allocates chunked storage lazily, so the file stays
// a few KiB whatever shape it declares. The handle is invalid when HDF5 refused to create it.
inline io::h5::Handle create_unwritten_dataset(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims,
                                               const std::vector<hsize_t>& chunk, int deflate = 0) {
  io::h5::Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  io::h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
  if (deflate > 0) H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate));
  return io::h5::Handle(
      H5Dcreate2(parent, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
}

}  // namespace saddlescope::testing
