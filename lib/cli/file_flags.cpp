#include "cli/file_flags.h"

#include <stdexcept>

#include "io/file_checks.h"

namespace saddlescope::cli {
namespace {

std::string named(const FileFlag& f) { return f.flag + " '" + f.path + "'"; }

}  // namespace

void check_file_flags(const std::vector<FileFlag>& inputs, const std::vector<FileFlag>& outputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const FileFlag& out = outputs[i];
    if (out.path.empty()) continue;
    std::string what;
    if (io::path_kind(out.path, &what) == io::PathKind::other)
      throw std::invalid_argument(named(out) + " exists and is " + what +
                                  ", not a regular file: give the path of a new or a regular file");
    for (const FileFlag& in : inputs)
      if (io::same_file(out.path, in.path))
        throw std::invalid_argument(named(out) + " is the same file as the input " + named(in) +
                                    ": writing it would destroy the input; give another output path");
    for (std::size_t j = 0; j < i; ++j)
      if (io::same_file(out.path, outputs[j].path))
        throw std::invalid_argument(named(out) + " is the same file as " + named(outputs[j]) +
                                    ": one of the two outputs would be lost; give two different paths");
  }
}

CLI::Validator regular_input_file() {
  return CLI::Validator(
      [](std::string& path) -> std::string {
        std::string what;
        if (io::path_kind(path, &what) == io::PathKind::other)
          return "'" + path + "' is " + what + ", not a regular file (refused: reading it could block for ever)";
        return "";
      },
      "FILE", "regular_input_file");
}

}  // namespace saddlescope::cli
