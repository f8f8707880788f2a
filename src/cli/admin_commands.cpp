// `s3bd sync MOUNTPOINT` and `s3bd stats MOUNTPOINT`: commands that talk to a
// running daemon through the files it serves.
//
// The mount point holds the disk file (the largest), the stats file and the
// stats file's JSON twin (a dot file, StatsJsonName()). `stats --json` prints
// the JSON file; `sync` calls the daemon's sync ioctl on the disk file
// (kSyncToStoreIoctl), which returns once everything written before it is
// in the store; meanwhile it shows the number of blocks still to upload, read from
// the JSON stats.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "s3bd/cli/cli.h"
#include "s3bd/cli/progress.h"
#include "s3bd/core/errors.h"
#include "s3bd/fuse/fuse_frontend.h"
#include "s3bd/cli/logging.h"

namespace s3bd {

namespace {

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
  f.json = mnt + "/" + StatsJsonName(f.stats.substr(f.stats.rfind('/') + 1));
  return f;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

MountFiles FindMountFiles(const std::string& mountpoint) { return FindFiles(mountpoint); }

nlohmann::ordered_json ReadStatsJson(const std::string& json_path) {
  const std::string text = ReadFile(json_path);
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("layers")) {
    throw StartupError(fmt::format("{}: no JSON stats (a daemon older than this s3bd?)", json_path));
  }
  return j;
}

long DirtyBlocks(const nlohmann::ordered_json& stats) {
  for (const auto& layer : stats["layers"]) {
    if (layer.value("layer", "") == "cache") return layer.value("dirty_blocks", 0L);
  }
  return -1;
}

namespace {

// DirtyBlocks() of a running mount; -1 also when its stats cannot be read.
long DirtyBlocksOf(const std::string& json_path) {
  try {
    return DirtyBlocks(ReadStatsJson(json_path));
  } catch (const StartupError&) {
    return -1;
  }
}

}  // namespace

int RunStats(const std::string& mountpoint, bool json) {
  try {
    const MountFiles f = FindFiles(mountpoint);
    if (json) {
      std::fputs(ReadStatsJson(f.json).dump(2).c_str(), stdout);
      std::fputs("\n", stdout);
      return 0;
    }
    std::fputs(ReadFile(f.stats).c_str(), stdout);
    return 0;
  } catch (const StartupError& e) {
    PrintError(e.what());
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
    Progress bar("syncing", quiet);
    const long initial = DirtyBlocksOf(f.json);
    long total = initial;
    while (done.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
      if (initial <= 0) continue;
      const long left = std::max(0L, DirtyBlocksOf(f.json));
      total = std::max(total, left);
      bar.Update(static_cast<std::uint64_t>(total - left), static_cast<std::uint64_t>(total),
                 fmt::format("{} blocks left", left));
    }
    const int err = done.get();
    ::close(fd);
    bar.Finish();
    if (err != 0) {
      PrintError(fmt::format("sync of {} failed: {} (the data stays cached and is retried)", mountpoint,
                             std::strerror(err)));
      return 1;
    }
    if (!quiet) std::fprintf(stderr, "s3bd: everything written to %s is in the store\n", mountpoint.c_str());
    return 0;
  } catch (const StartupError& e) {
    PrintError(e.what());
    return 1;
  }
}

namespace {

// `fusermount3 -u MOUNTPOINT`; as root without fusermount3, umount(2).
// Returns 0 or prints why not and returns 1.
int Unmount(const std::string& mnt) {
  const pid_t pid = ::fork();
  if (pid < 0) throw StartupError(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::execlp("fusermount3", "fusermount3", "-u", "--", mnt.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && ::geteuid() == 0) {
    if (::umount2(mnt.c_str(), 0) == 0) return 0;
    throw StartupError(fmt::format("cannot unmount {}: {}", mnt, std::strerror(errno)));
  }
  // fusermount3 said why on stderr.
  throw StartupError(fmt::format("cannot unmount {} (fusermount3 -u failed)", mnt));
}

nlohmann::json ReadStatus(const std::string& path) {
  return nlohmann::json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
}

}  // namespace

int RunUnmount(const std::string& mountpoint, bool quiet) {
  try {
    char resolved[PATH_MAX];
    const std::string mnt = ::realpath(mountpoint.c_str(), resolved) ? resolved : mountpoint;
    const MountFiles f = FindFiles(mnt);
    const nlohmann::ordered_json stats = ReadStatsJson(f.json);
    const nlohmann::ordered_json daemon = stats.value("daemon", nlohmann::ordered_json::object());
    const long pid = daemon.value("pid", 0L);
    const std::string status_path = daemon.value("status_file", "");
    if (pid <= 0 || status_path.empty()) {
      throw StartupError(fmt::format("{}: the daemon does not say where it reports its status (older s3bd?); "
                                     "use fusermount3 -u", mnt));
    }
    // A pidfd waits for a process that is not our child.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
    if (pidfd < 0) throw StartupError(fmt::format("daemon pid {}: {}", pid, std::strerror(errno)));
    Unmount(mnt);
    Progress bar("flushing", quiet);
    std::uint64_t total = 0;
    for (;;) {
      struct pollfd p = {pidfd, POLLIN, 0};
      const int r = ::poll(&p, 1, 200);
      if (r > 0) break;
      if (r < 0 && errno != EINTR) break;
      const nlohmann::json st = ReadStatus(status_path);
      if (st.is_object() && st.value("state", "") == "flushing" && st.value("pid", 0L) == pid) {
        const std::uint64_t left = st.value("dirty_blocks", std::uint64_t{0});
        total = std::max(total, left);
        bar.Update(total - left, total, fmt::format("{} blocks left", left));
      }
    }
    ::close(pidfd);
    bar.Finish();
    const nlohmann::json st = ReadStatus(status_path);
    if (!st.is_object() || st.value("pid", 0L) != pid || st.value("state", "") != "done") {
      throw StartupError(fmt::format("{} unmounted, but the daemon (pid {}) ended without reporting its final "
                                     "flush (killed?): data may not be stored",
                                     mnt, pid));
    }
    ::unlink(status_path.c_str());
    if (st.value("status", 1) != 0) {
      std::fprintf(stderr,
                   "s3bd: error: %s unmounted, but %llu blocks could not be stored: %s (kept in the cache file, "
                   "if any, for the next mount)\n",
                   mnt.c_str(), static_cast<unsigned long long>(st.value("not_stored", std::uint64_t{0})),
                   st.value("reason", "unknown").c_str());
      return 1;
    }
    if (!quiet) std::fprintf(stderr, "s3bd: %s unmounted; everything is in the store\n", mnt.c_str());
    return 0;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

}  // namespace s3bd
