// The FUSE front end: a directory holding the disk file and a read-only
// stats file (and its JSON twin), served with libfuse3's low-level API
// (fuse_lowlevel.h) on several threads.
//
// This is the only place where std::error_code becomes an errno (through
// ToErrno()), and every callback catches exceptions so none crosses into C;
// every callback ends in exactly one fuse_reply_*.
//
// Inodes are fixed: the root directory 1, the disk file 2, the stats file
// 3, its JSON twin 4 (these two only with a stats file name).
//
// Behaviour of the disk file: size that of the volume (read from the Volume
// at every getattr); reads and writes of any offset and length; fsync makes
// everything durable (in the store; with --durable-cache in the cache
// file), close does not wait for it; the ioctl kSyncToStoreIoctl waits
// until everything is in the store (`s3bd sync`); kResizeIoctl changes the
// size (`s3bd resize`); fallocate
// PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE zero the range (whole blocks are
// freed); truncate to another size, rename, unlink, chmod, chown and
// creating files or directories fail with EPERM; writes past the end,
// EFBIG; writes on a read-only mount, EROFS.
//
// Data path: a read is answered from the blocks' own buffers
// (Volume::ReadShared, one iovec per block, fuse_reply_iov): a cache hit is
// sent to the kernel without any copy in user space, a miss after the one
// copy that fetched it into the cache. The buffers stay referenced until
// the reply is written; the cache copies a block on write while it is lent.
// A write takes the bytes from libfuse's request buffer straight into
// Volume::Write (one copy, into the cached block). Splice is not used: it
// cost more CPU per byte of warm reads (README, The FUSE path).
#pragma once

#include <sys/ioctl.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "s3bd/fuse/fuse_config.h"
#include "s3bd/core/stats.h"
#include "s3bd/volume/volume.h"

struct fuse_session;

namespace s3bd {

// ioctl(2) on the disk file: returns once everything written before it is
// in the store (not only in a --durable-cache file); fails with the error.
inline constexpr unsigned long kSyncToStoreIoctl = _IO('S', 0x59);
// ioctl(2) on the disk file with a pointer to the new size in bytes
// (`s3bd resize`): resizes the mounted volume (FuseFrontend::resize) and
// makes the kernel forget the file's attributes, so that stat(2) and
// `losetup -c` see the new size when it returns. Fails with EROFS on a
// read-only mount, ENOTTY on a daemon without it, else the resize's errno
// (volume/resize.h).
inline constexpr unsigned long kResizeIoctl = _IOW('S', 0x5A, std::uint64_t);

// The name of the stats file's JSON twin beside it: ".stats.json" for
// "stats" (a dot file, so that `ls` shows the two files it always showed).
std::string StatsJsonName(const std::string& stats_name);

class FuseFrontend {
 public:
  // Inode numbers (FUSE_ROOT_ID is 1).
  static constexpr std::uint64_t kRootInode = 1, kDiskInode = 2, kStatsInode = 3, kStatsJsonInode = 4;

  FuseFrontend(Volume& volume, const MountConfig& config, bool read_only);
  ~FuseFrontend();
  FuseFrontend(const FuseFrontend&) = delete;
  FuseFrontend& operator=(const FuseFrontend&) = delete;

  // Creates the FUSE session and mounts it. Throws StartupError.
  void Mount();
  // Serves requests until unmounted or SIGINT/SIGTERM/SIGHUP; then unmounts.
  void Run();

  // Tells the kernel to forget the disk file's cached attributes (its size),
  // so that the next stat asks again: for an online resize. Thread-safe;
  // a no-op before Mount() or once the kernel has no such inode cached.
  std::error_code InvalidateDiskAttributes();

  // The stats tree (s3bd/core/stats.h) and the stats file's text, rendered
  // from it; StatsFile(true) is the JSON file's content.
  StatsJson Stats() const;
  std::string StatsText() const;
  std::string StatsFile(bool json) const;

  // Callbacks' state (public for the C callbacks in fuse_frontend.cpp).
  Volume& volume() { return volume_; }
  const MountConfig& config() const { return config_; }
  bool read_only() const { return read_only_; }
  time_t mount_time() const { return mount_time_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  FrontendCounters counters;
  // What kResizeIoctl runs with the new size; set before Mount(). Unset:
  // the ioctl fails with ENOTTY.
  std::function<std::error_code(std::uint64_t new_size)> resize;
  // Called once, on a thread of its own, as soon as SIGINT, SIGTERM or
  // SIGHUP asks the daemon to stop: before the requests still being served
  // have ended (so it can make them give up). Set before Run().
  std::function<void()> on_stop_signal;
  // Shown in the stats ("daemon": "status_file"); set before Mount().
  std::string status_file;

 private:
  Volume& volume_;
  MountConfig config_;
  bool read_only_;
  time_t mount_time_;
  uid_t uid_;
  gid_t gid_;
  struct fuse_session* session_ = nullptr;
  std::atomic<bool> mounted_{false};
};

}  // namespace s3bd
