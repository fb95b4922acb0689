#pragma once
// A violation through an include: io/heavy.h includes <hdf5.h>, which io/ may, but an algorithm header
// that includes io/heavy.h pulls HDF5 in all the same.
#include "io/heavy.h"
