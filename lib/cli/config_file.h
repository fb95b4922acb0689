#pragma once
// --config FILE: the same options as the command line from a file, JSON (an object whose keys are the
// long flag names, '_' or '-', values as on the command line or as JSON numbers, booleans and arrays)
// or CLI11's TOML/INI format. Strict like the command line: a key that names no option is refused
// (exit 2), and JSON nested deeper than io::kMaxJsonDepth is refused before it is parsed.
#include <CLI/CLI.hpp>

namespace saddlescope::cli {

void add_config_file_option(CLI::App& app);

}  // namespace saddlescope::cli
