#pragma once
// Version and commit of the library as built; the definitions are generated at build time
// (cmake/WriteBuildInfo.cmake), so the commit is the one the binary was built from.
namespace saddlescope::io {
const char* library_version();
// 40 hex digits, with "-dirty" appended when tracked files had uncommitted changes; "unknown" outside git.
const char* git_commit();
}  // namespace saddlescope::io
