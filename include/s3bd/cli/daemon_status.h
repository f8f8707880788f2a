// The daemon's status file: how `s3bd unmount` learns what the detached
// daemon's final flush did.
//
// Each mount owns one small JSON file, mode 0600, in StatusDir() (/run/s3bd
// for root, else $XDG_RUNTIME_DIR/s3bd, else /tmp/s3bd-UID; the directory
// mode 0700), named for the mount point (StatusFileName()). The daemon
// replaces it atomically (write, rename) at each change of state:
//   {"pid": N, "mountpoint": "/mnt", "state": "mounted" | "flushing" | "done",
//    "dirty_blocks": N, "status": 0 | 1, "not_stored": N, "reason": "..."}
// "flushing" is rewritten while the final flush runs (dirty_blocks falls);
// "done" carries the exit status (0 only if everything is stored), the
// blocks that could not be stored and why. The stats show the path
// ("daemon": {"status_file"}); `s3bd unmount` removes the file once read.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace s3bd {

std::string StatusDir();
// StatusDir() + "/" + the mount point with '/' as '-' and other bytes
// outside [A-Za-z0-9._] as \xNN (as systemd escapes paths) + ".status".
std::string StatusFilePath(const std::string& mountpoint);

// Writes `text` to `path` atomically (a temporary file beside it, renamed),
// mode 0600. False with errno if it could not.
bool WriteFileAtomically(const std::string& path, const std::string& text);
// Writes `status` to `path` atomically, mode 0600, creating StatusDir()
// (mode 0700) if needed. Returns false (with errno) if it could not.
bool WriteStatusFile(const std::string& path, const nlohmann::json& status);

}  // namespace s3bd
