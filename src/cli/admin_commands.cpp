// `s3bd sync MOUNTPOINT` and `s3bd stats MOUNTPOINT`: commands that talk to a
// running daemon through the files it serves.
//
// The mount point holds exactly two files: the disk file (the largest) and
// the stats file. `sync` calls the daemon's sync ioctl on the disk file
// (kSyncToStoreIoctl), which returns once everything written before it is
// in the store; meanwhile it shows the number of blocks still to upload, read from
// the stats file.
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "s3bd/cli/cli.h"
#include "s3bd/core/errors.h"
#include "s3bd/fuse/fuse_frontend.h"

namespace s3bd {

namespace {

struct MountFiles {
  std::string disk, stats;
};

MountFiles FindFiles(const std::string& mnt) {
  DIR* d = ::opendir(mnt.c_str());
  if (!d) throw StartupError(fmt::format("{}: {}", mnt, std::strerror(errno)));
  MountFiles f;
  off_t disk_size = -1, stats_size = -1;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = mnt + "/" + e->d_name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_size > disk_size) {
      if (disk_size >= 0) {
        f.stats = f.disk;
        stats_size = disk_size;
      }
      f.disk = path;
      disk_size = st.st_size;
    } else if (st.st_size > stats_size) {
      f.stats = path;
      stats_size = st.st_size;
    }
  }
  ::closedir(d);
  if (f.disk.empty() || f.stats.empty()) {
    throw StartupError(fmt::format("{} does not look like an s3bd mount", mnt));
  }
  std::ifstream in(f.stats);
  std::string first;
  std::getline(in, first);
  if (first != "[volume]") throw StartupError(fmt::format("{} does not look like an s3bd mount", mnt));
  return f;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Blocks not yet in the store, from the cache's stats ("dirty blocks N");
// -1 when the stack has no cache.
long DirtyBlocks(const std::string& stats_path) {
  static const std::regex kDirty(R"(dirty blocks\s+(\d+))");
  std::smatch m;
  const std::string text = ReadFile(stats_path);
  if (std::regex_search(text, m, kDirty)) return std::stol(m[1]);
  return -1;
}

}  // namespace

int RunStats(const std::string& mountpoint) {
  try {
    const MountFiles f = FindFiles(mountpoint);
    std::fputs(ReadFile(f.stats).c_str(), stdout);
    return 0;
  } catch (const StartupError& e) {
    std::fprintf(stderr, "s3bd: error: %s\n", e.what());
    return 1;
  }
}

int RunSync(const std::string& mountpoint, bool quiet) {
  try {
    const MountFiles f = FindFiles(mountpoint);
    const int fd = ::open(f.disk.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw StartupError(fmt::format("{}: {}", f.disk, std::strerror(errno)));
    // The daemon's sync ioctl waits for the store even with --durable-cache
    // (where fsync stops at the cache file); a daemon without it gets fsync.
    auto done = std::async(std::launch::async, [fd] {
      if (::ioctl(fd, kSyncToStoreIoctl) == 0) return 0;
      if (errno != ENOTTY && errno != ENOSYS) return errno;
      return ::fsync(fd) == 0 ? 0 : errno;
    });
    const bool show = !quiet && ::isatty(2);
    const long initial = DirtyBlocks(f.stats);
    while (done.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
      if (!show || initial <= 0) continue;
      const long left = std::max(0L, DirtyBlocks(f.stats));
      const long total = std::max(initial, left);
      const int width = 40;
      const int filled = static_cast<int>(width * (total - left) / std::max(1L, total));
      std::fprintf(stderr, "\rsyncing [%s%s] %ld blocks left ", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), left);
    }
    const int err = done.get();
    ::close(fd);
    if (show && initial > 0) std::fputs("\n", stderr);
    if (err != 0) {
      std::fprintf(stderr, "s3bd: error: sync of %s failed: %s (the data stays cached and is retried)\n",
                   mountpoint.c_str(), std::strerror(err));
      return 1;
    }
    if (!quiet) std::fprintf(stderr, "s3bd: everything written to %s is in the store\n", mountpoint.c_str());
    return 0;
  } catch (const StartupError& e) {
    std::fprintf(stderr, "s3bd: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace s3bd
