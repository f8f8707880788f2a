// The command line: `s3bd mount STORE MOUNTPOINT [options]`, `--version`,
// `--help`. Returns the process exit status: 0 success, 1 runtime failure
// (including data that could not be flushed), 2 bad usage.
#pragma once

#include "s3bd/core/config.h"

namespace s3bd {

int RunCli(int argc, char** argv);

// Mounts and serves until unmounted; see mount_command.cpp.
int RunMount(StoreConfig store, MountConfig mount);

}  // namespace s3bd
