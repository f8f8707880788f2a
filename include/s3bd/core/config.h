// Everything the command line decides, as plain data. The CLI fills it in;
// the composition root (stack.h) and the FUSE front end read it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace s3bd {

struct StoreConfig {
  std::string url;        // STORE as given on the command line
  std::string directory;  // absolute path of a directory store
  std::optional<std::uint64_t> size;        // --size
  std::optional<std::uint64_t> block_size;  // --block-size
  bool force = false;                       // --force
  bool read_only = false;                   // --read-only
};

struct MountConfig {
  std::string mountpoint;           // absolute path
  std::string file_name = "file";   // --file-name
  std::string stats_name = "stats"; // --stats-file
  mode_t file_mode = 0600;          // --file-mode
  bool foreground = false;          // -f
  std::vector<std::string> fuse_options;  // -o, each possibly comma-separated
  std::string log_level = "info";
};

constexpr std::uint64_t kDefaultBlockSize = 1u << 20;
constexpr std::uint64_t kMinBlockSize = 4u << 10;
constexpr std::uint64_t kMaxBlockSize = 64u << 20;

}  // namespace s3bd
