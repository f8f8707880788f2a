// The command line: `s3bd mount STORE MOUNTPOINT [options]`, `--version`,
// `--help`. Returns the process exit status: 0 success, 1 runtime failure
// (including data that could not be flushed), 2 bad usage.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "s3bd/cli/serve.h"
#include "s3bd/core/config.h"
#include "s3bd/fuse/fuse_config.h"

namespace s3bd {

int RunCli(int argc, char** argv);

// Mounts and serves until unmounted; see mount_command.cpp. `store` has been
// through ResolveStoreUrl() (RunCli's conversion of the arguments does it).
int RunMount(StoreConfig store, MountConfig mount, DaemonConfig daemon);

// `s3bd sync` / `s3bd stats` on a running mount; see admin_commands.cpp.
int RunSync(const std::string& mountpoint, bool quiet);
int RunStats(const std::string& mountpoint, bool json);
// `s3bd resize MOUNTPOINT --size SIZE`; see resize_command.cpp.
int RunResize(const std::string& mountpoint, const std::string& size, bool quiet);

// The files a mount serves (admin_commands.cpp): the disk file (the
// largest), the stats file and its JSON twin. Throws StartupError ("... does
// not look like an s3bd mount").
struct MountFiles {
  std::string disk, stats, json;
};
MountFiles FindMountFiles(const std::string& mountpoint);
// `s3bd unmount`: unmounts, waits for the daemon's final flush, returns 0
// only if everything is stored.
int RunUnmount(const std::string& mountpoint, bool quiet);
// `s3bd info STORE`; see info_command.cpp.
int RunInfo(const StoreConfig& config, bool count, bool json, bool quiet);
// `s3bd verify STORE` and `s3bd erase STORE`; see volume_commands.cpp.
int RunVerify(const StoreConfig& config, bool json, bool quiet);
int RunErase(const StoreConfig& config, bool yes, bool quiet);

// The JSON stats of a mount (its stats file's JSON twin); throws
// StartupError. DirtyBlocks(): the cache layer's "dirty_blocks", -1 without
// a cache.
nlohmann::ordered_json ReadStatsJson(const std::string& json_path);
long DirtyBlocks(const nlohmann::ordered_json& stats);

// `s3bd passwd STORE`: rewraps the data key of an encrypted volume under a
// new passphrase; see passwd_command.cpp.
struct PasswdOptions {
  std::string old_file;  // --passphrase-file
  std::string new_file;  // --new-passphrase-file
  bool add = false;      // --add: a new slot; otherwise the slot that opened is replaced
};
int RunPasswd(const StoreConfig& store, const PasswdOptions& options);

// `s3bd unlock STORE [--force]`: removes the volume's lease; see
// lease_command.cpp.
int RunUnlock(const StoreConfig& store, bool force);

}  // namespace s3bd
