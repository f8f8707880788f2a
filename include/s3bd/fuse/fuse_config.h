// What the command line decides about a FUSE mount (`s3bd mount`) that is
// the FUSE front end's, as plain data (the daemon's own settings are
// cli/serve.h's DaemonConfig).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace s3bd {

struct MountConfig {
  std::string mountpoint;           // absolute path
  std::string file_name = "file";   // --file-name
  std::string stats_name = "stats"; // --stats-file
  mode_t file_mode = 0600;          // --file-mode
  std::vector<std::string> fuse_options;  // -o, each possibly comma-separated
};

}  // namespace s3bd
