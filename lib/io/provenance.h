#pragma once
// Provenance: what every output file carries so a reader can say who made it, from what, and how
// to make it again (DESIGN.md, "HDF5 files").
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace saddlescope::io {

struct Provenance {
  std::string tool;          // the executable's name, e.g. "classify-critical"
  std::string tool_version;  // saddlescope's version
  std::string git_commit;    // commit the binary was built from (see build_info.h)
  std::string command_line;  // argv joined, each word shell-quoted when needed
  std::string created_at;    // ISO 8601 UTC, second resolution, e.g. "2026-11-24T01:02:03Z"
  nlohmann::json seeds = nlohmann::json::object();  // every seed that fed a random stream

  // Fills everything from the running process; `seeds` is left for the caller.
  static Provenance capture(const std::string& tool, int argc, const char* const* argv);
  std::string created_by() const { return tool + " " + tool_version; }
};

// Current UTC time as ISO 8601.
std::string utc_now_iso8601();
// Joins argv into one line that a POSIX shell would split back into the same words.
std::string shell_join(int argc, const char* const* argv);

// What a reader finds at the root of a file (provenance_file.h reads it).
struct FileHeader {
  std::string format;
  std::int64_t format_version = 0;
  Provenance provenance;
};

// SHA-256 of a file's bytes as 64 hex digits (results record the checksum of their input).
std::string sha256_file(const std::string& path);
std::string sha256_hex(const void* data, std::size_t size);

}  // namespace saddlescope::io
