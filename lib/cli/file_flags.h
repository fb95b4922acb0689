#pragma once
// The one check of a tool's file arguments before anything is opened (issue #17, items 1 and 3).
//
// Every tool that writes a file calls check_file_flags with its input and output flags. It refuses,
// as a usage error (std::invalid_argument, exit 2) naming both flags and both paths:
//  - an output that is the same file as an input (io::same_file: same device and inode through
//    symlinks, hard links and `..`; for a file not yet there, the same folder and name), which the
//    write would destroy;
//  - two outputs that are one file (one of the two results would be lost);
//  - an output that exists and is not a regular file (`--out /dev/null` run as root would have the
//    atomic rename replace the device node; a FIFO would block), naming what it is.
// Inputs that are not regular files are refused by the readers (io::require_regular_input, exit 3).
// Flags left empty (not given) are skipped.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace saddlescope::cli {

struct FileFlag {
  std::string flag;  // as the user typed it: "--out", "--log", "checkpoint" (the positional), "--data"
  std::string path;
};

void check_file_flags(const std::vector<FileFlag>& inputs, const std::vector<FileFlag>& outputs);

// A CLI11 check for a flag whose file CLI11 itself reads while parsing (--config): refuses a FIFO,
// device or socket (io::path_kind) before CLI11 opens it, which would block for ever on a FIFO. Give
// the option ->trigger_on_parse() too, so the check runs when the flag is parsed, before the file is
// read (CLI11 reads config files before it runs the other options' checks).
CLI::Validator regular_input_file();

}  // namespace saddlescope::cli
