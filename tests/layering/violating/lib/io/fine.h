#pragma once
// A fixture for the layering test: io/ may include HDF5 (allowed).
#include <hdf5.h>
