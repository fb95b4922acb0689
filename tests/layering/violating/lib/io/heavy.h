#pragma once
// io/ may include HDF5; what includes this header from an algorithm module may not.
#include <hdf5.h>
