// A fixture for the layering test: an algorithm source that includes the command-line layer.
#include "cli/app.h"
