#pragma once
// A fixture for the layering test: an algorithm header that includes HDF5 (the check must refuse it).
#include <hdf5.h>
