// `s3bd resize MOUNTPOINT --size SIZE`: resizes a mounted volume through
// the daemon's resize ioctl on the disk file (kResizeIoctl; the daemon does
// the work, volume/resize.h). Checks what it can first, from the mount's
// JSON stats (a read-only mount, the block size), so that the common
// mistakes get a precise one-line error; the daemon checks everything again.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "s3bd/cli/cli.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/fuse/fuse_frontend.h"
#include "s3bd/cli/logging.h"

namespace s3bd {

namespace {

// The one-line explanation of the ioctl's errno.
std::string Explain(int err, const std::string& mnt, std::uint64_t size) {
  switch (err) {
    case ENOTEMPTY:
      return fmt::format("cannot shrink {} to {}: blocks at or past the new end hold data (the daemon's log "
                         "names the first); nothing was changed",
                         mnt, FormatSize(size));
    case EROFS:
      return fmt::format("{} is mounted read-only: it cannot be resized", mnt);
    case EOPNOTSUPP:
      return fmt::format("{} holds an s3backer-format volume, which cannot be resized (its block 0 records its "
                         "size)",
                         mnt);
    case EINVAL:
      return fmt::format("--size {}: not a whole number of blocks of this volume", FormatSize(size));
    case EFBIG:
      return fmt::format("--size {}: too large for this mount (the daemon's log says why)", FormatSize(size));
    case ENOTTY:
    case ENOSYS:
      return fmt::format("{}: the daemon does not support resizing (an older s3bd?)", mnt);
    default:
      return fmt::format("cannot resize {} to {}: {} (the daemon's log says more)", mnt, FormatSize(size),
                         std::strerror(err));
  }
}

}  // namespace

int RunResize(const std::string& mountpoint, const std::string& size_text, bool quiet) {
  try {
    const std::uint64_t size = ParseSize(size_text, "--size");
    const MountFiles f = FindMountFiles(mountpoint);
    const auto stats = ReadStatsJson(f.json);
    const nlohmann::ordered_json volume =
        stats.contains("volume") ? stats["volume"] : nlohmann::ordered_json::object();
    const std::uint64_t block_size = volume.value("block_size", std::uint64_t{0});
    const std::uint64_t old_size = volume.value("size", std::uint64_t{0});
    if (volume.value("read_only", false)) {
      throw StartupError(fmt::format("{} is mounted read-only: it cannot be resized", mountpoint));
    }
    if (block_size != 0 && size % block_size != 0) {
      throw UsageError(fmt::format("--size {}: not a whole number of blocks of {} (try {} or {})", size_text,
                                   FormatSize(block_size), FormatSize(size / block_size * block_size),
                                   FormatSize((size / block_size + 1) * block_size)));
    }
    const int fd = ::open(f.disk.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw StartupError(fmt::format("{}: {}", f.disk, std::strerror(errno)));
    std::uint64_t arg = size;
    const int rc = ::ioctl(fd, kResizeIoctl, &arg);
    const int err = errno;
    // The daemon made the kernel forget the file's attributes; this fstat
    // fetches the new ones, which also sets the size that the loop driver
    // reads at `losetup -c` (the inode's, not a fresh getattr).
    struct stat st {};
    const bool stated = rc == 0 && ::fstat(fd, &st) == 0;
    ::close(fd);
    if (rc != 0) throw StartupError(Explain(err, mountpoint, size));
    if (!quiet) {
      std::printf("%s: resized from %s to %s\n", f.disk.c_str(), FormatSize(old_size).c_str(),
                  FormatSize(stated ? static_cast<std::uint64_t>(st.st_size) : size).c_str());
    }
    return 0;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

}  // namespace s3bd
