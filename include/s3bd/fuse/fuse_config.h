// What the command line decides about a FUSE mount (`s3bd mount`), as plain
// data: the CLI fills it in; the FUSE front end and the mount command's
// daemon life cycle read it.
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
  bool foreground = false;          // -f
  std::vector<std::string> fuse_options;  // -o, each possibly comma-separated
  std::string log_level = "info";
  std::string log_file;             // --log-file: the detached daemon's log (appended)
};

}  // namespace s3bd
