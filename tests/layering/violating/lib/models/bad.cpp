// A fixture for the layering test: an algorithm source that includes a rendering.
  #  include "report/spectrum.h"
