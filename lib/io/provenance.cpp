#include "io/provenance.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <vector>

#include "io/build_info.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/provenance_file.h"

namespace saddlescope::io {

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

std::string shell_join(int argc, const char* const* argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    const std::string word = argv[i] != nullptr ? argv[i] : "";
    const bool plain = !word.empty() && word.find_first_not_of(
                                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                            "-_./:=,+@%") == std::string::npos;
    if (i > 0) line += ' ';
    if (plain) {
      line += word;
    } else {
      line += '\'';
      for (char c : word) line += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      line += '\'';
    }
  }
  return line;
}

Provenance Provenance::capture(const std::string& tool, int argc, const char* const* argv) {
  Provenance p;
  p.tool = tool;
  p.tool_version = library_version();
  p.git_commit = io::git_commit();
  p.command_line = shell_join(argc, argv);
  p.created_at = utc_now_iso8601();
  return p;
}

void write_provenance(hid_t file, const std::string& format, std::int64_t format_version, const Provenance& p) {
  h5::write_attribute(file, "format", format);
  h5::write_attribute(file, "format_version", format_version);
  h5::write_attribute(file, "created_by", p.created_by());
  h5::write_attribute(file, "git_commit", p.git_commit);
  h5::write_attribute(file, "command_line", p.command_line);
  h5::write_attribute(file, "created_at", p.created_at);
  h5::write_attribute(file, "seeds", p.seeds.dump());
}

FileHeader read_and_check_header(hid_t file, const std::string& path, const std::string& expected_format,
                                 std::int64_t newest_supported) {
  FileHeader header;
  try {
    if (!h5::has_attribute(file, "format"))
      throw FileError(path, "not a saddlescope file (no root attribute 'format'); expected a " + expected_format);
    header.format = h5::read_string_attribute(file, "format");
    if (header.format != expected_format)
      throw FileError(path, "is a '" + header.format + "' file, expected '" + expected_format + "'");
    header.format_version = h5::read_int_attribute(file, "format_version");
    if (header.format_version < 1 || header.format_version > newest_supported)
      throw FileError(path, "format_version " + std::to_string(header.format_version) + " of '" + expected_format +
                                "' is not supported (this build reads versions 1 to " +
                                std::to_string(newest_supported) + ")");
    auto optional = [&](const char* name) {
      return h5::has_attribute(file, name) ? h5::read_string_attribute(file, name) : std::string();
    };
    const std::string created_by = optional("created_by");
    const auto space = created_by.find(' ');
    header.provenance.tool = created_by.substr(0, space);
    header.provenance.tool_version = space == std::string::npos ? "" : created_by.substr(space + 1);
    header.provenance.git_commit = optional("git_commit");
    header.provenance.command_line = optional("command_line");
    header.provenance.created_at = optional("created_at");
    const std::string seeds = optional("seeds");
    header.provenance.seeds = nlohmann::json::parse(seeds.empty() ? "{}" : seeds, nullptr, false);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path, e.what());
  }
  return header;
}

// SHA-256 (FIPS 180-4), written out here because the dependency list has no hashing library.
namespace {
constexpr std::array<std::uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

class Sha256 {
 public:
  void update(const unsigned char* data, std::size_t size) {
    total_ += size;
    while (size > 0) {
      const std::size_t take = std::min<std::size_t>(64 - fill_, size);
      std::copy(data, data + take, block_.begin() + static_cast<std::ptrdiff_t>(fill_));
      fill_ += take;
      data += take;
      size -= take;
      if (fill_ == 64) {
        compress();
        fill_ = 0;
      }
    }
  }
  std::string hex() {
    const std::uint64_t bits = total_ * 8;
    const unsigned char one = 0x80, zero = 0;
    update(&one, 1);
    while (fill_ != 56) update(&zero, 1);
    for (int i = 7; i >= 0; --i) {
      const unsigned char b = static_cast<unsigned char>(bits >> (8 * i));
      update(&b, 1);
    }
    char out[65];
    for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", state_[static_cast<std::size_t>(i)]);
    return std::string(out, 64);
  }

 private:
  void compress() {
    std::array<std::uint32_t, 64> w{};
    for (std::size_t i = 0; i < 16; ++i)
      w[i] = (std::uint32_t{block_[4 * i]} << 24) | (std::uint32_t{block_[4 * i + 1]} << 16) |
             (std::uint32_t{block_[4 * i + 2]} << 8) | std::uint32_t{block_[4 * i + 3]};
    for (std::size_t i = 16; i < 64; ++i) {
      const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto s = state_;
    for (std::size_t i = 0; i < 64; ++i) {
      const std::uint32_t t1 = s[7] + (rotr(s[4], 6) ^ rotr(s[4], 11) ^ rotr(s[4], 25)) +
                               ((s[4] & s[5]) ^ (~s[4] & s[6])) + kRound[i] + w[i];
      const std::uint32_t t2 = (rotr(s[0], 2) ^ rotr(s[0], 13) ^ rotr(s[0], 22)) +
                               ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
      for (std::size_t j = 7; j > 0; --j) s[j] = s[j - 1];
      s[4] += t1;
      s[0] = t1 + t2;
    }
    for (std::size_t i = 0; i < 8; ++i) state_[i] += s[i];
  }
  std::array<std::uint32_t, 8> state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<unsigned char, 64> block_{};
  std::size_t fill_ = 0;
  std::uint64_t total_ = 0;
};
}  // namespace

std::string sha256_hex(const void* data, std::size_t size) {
  Sha256 h;
  h.update(static_cast<const unsigned char*>(data), size);
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot be opened for reading");
  Sha256 h;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    h.update(reinterpret_cast<const unsigned char*>(buffer.data()), static_cast<std::size_t>(in.gcount()));
  }
  return h.hex();
}

}  // namespace saddlescope::io
