#pragma once
// What a path names on disk, asked before anything opens it (issue #17).
//
// Two questions every tool asks of its file arguments, answered from stat(2) alone, so that nothing
// here can block or change the disk:
//  - Is an input a regular file? open(2) on a FIFO blocks until a writer appears (for ever, for a
//    tool run by hand), a character device streams without end, and a socket cannot be read at all.
//    Readers call require_regular_input first; every saddlescope reader goes through
//    io::open_saddlescope_file, which does.
//  - Do two paths name one file? Same device and inode when both exist, through symlinks, hard links
//    and `..`; when either does not exist yet, the same canonical location (its existing parent folder
//    resolved, plus the name). An output that is an input would destroy the input (the atomic rename
//    replaces it; loss-slice truncates it in place); two outputs that are one file would leave one of
//    them silently lost. The command-line layer turns the answers into one usage error per tool
//    (cli/file_flags.h).
#include <string>

namespace saddlescope::io {

enum class PathKind { missing, regular, directory, other };

// What `path` is (symlinks followed). For `other`, `what` (when given) says which kind: "a FIFO",
// "a character device", "a block device", "a socket"; for a path stat(2) cannot reach (permission,
// a loop of symlinks) `missing` and the system's reason.
PathKind path_kind(const std::string& path, std::string* what = nullptr);

// Throws FileError(path, ...) unless `path` is an existing regular file: "no such file", "is a
// directory, not an HDF5 file", or "is a FIFO, not a regular file (refused: reading it could block
// for ever)".
void require_regular_input(const std::string& path);

// True when `a` and `b` name the same file (see above). Empty paths name nothing.
bool same_file(const std::string& a, const std::string& b);

}  // namespace saddlescope::io
