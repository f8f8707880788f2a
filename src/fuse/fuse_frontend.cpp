// FUSE front end; see the header for the behaviour of each file.
#include "s3bd/fuse/fuse_frontend.h"

#include <fcntl.h>
#include <fuse3/fuse.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"

namespace s3bd {

namespace {

// Stop signals: libfuse's handler ends the FUSE loop, but the loop waits
// for the requests it is serving, which may be waiting for the store. Ours
// runs first, tells a watcher thread through a pipe (write(2) is
// async-signal-safe), and then calls libfuse's.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
int g_stop_pipe = -1;                     // write end, while Run() runs
struct sigaction g_fuse_action[NSIG];     // libfuse's handlers

void OnStopSignal(int sig) {
  const int saved = errno;
  const char c = 1;
  if (g_stop_pipe >= 0) (void)!::write(g_stop_pipe, &c, 1);
  errno = saved;
  const struct sigaction& a = g_fuse_action[sig];
  if (!(a.sa_flags & SA_SIGINFO) && a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN) a.sa_handler(sig);
}

FuseFrontend& Self() { return *static_cast<FuseFrontend*>(fuse_get_context()->private_data); }

enum class Node { kRoot, kDisk, kStats, kStatsJson, kNone };

Node Lookup(const char* path) {
  if (std::strcmp(path, "/") == 0) return Node::kRoot;
  if (path[0] != '/') return Node::kNone;
  const FuseFrontend& s = Self();
  if (s.config().file_name == path + 1) return Node::kDisk;
  if (!s.config().stats_name.empty() && s.config().stats_name == path + 1) return Node::kStats;
  if (!s.config().stats_name.empty() && StatsJsonName(s.config().stats_name) == path + 1) return Node::kStatsJson;
  return Node::kNone;
}

// The single error_code -> errno conversion of the daemon (as -errno).
int Fail(std::error_code ec) {
  Self().counters.errors.fetch_add(1, std::memory_order_relaxed);
  return -ToErrno(ec);
}

// Runs a callback body, turning any exception into -EIO / -ENOMEM.
template <typename Fn>
int Guarded(const char* op, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", op, e.what());
    return -EIO;
  } catch (...) {
    return -EIO;
  }
}

void* OpInit(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  // The file's size and attributes never change behind the kernel's back
  // (a resize tells it: ResizeIoctl).
  cfg->attr_timeout = 3600;
  cfg->entry_timeout = 3600;
  cfg->negative_timeout = 3600;
  // Allow 1 MiB requests (the kernel caps this at its own maximum).
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
  // Asynchronous direct I/O (libaio, a loop device with direct I/O) reaches
  // us as "background" requests, of which the kernel lets max_background be
  // outstanding (default 12): too few to keep 20 ms round trips busy.
  conn->max_background = 128;
  conn->congestion_threshold = 96;
  return fuse_get_context()->private_data;
}

int OpGetattr(const char* path, struct stat* st, struct fuse_file_info*) {
  return Guarded("getattr", [&] {
    FuseFrontend& s = Self();
    std::memset(st, 0, sizeof *st);
    st->st_uid = s.uid();
    st->st_gid = s.gid();
    st->st_atime = st->st_mtime = st->st_ctime = s.mount_time();
    st->st_blksize = static_cast<blksize_t>(s.volume().geometry().block_size);
    switch (Lookup(path)) {
      case Node::kRoot:
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
      case Node::kDisk:
        st->st_mode = S_IFREG | (s.config().file_mode & 07777);
        if (s.read_only()) st->st_mode &= ~0222;
        st->st_nlink = 1;
        st->st_size = static_cast<off_t>(s.volume().size());
        st->st_blocks = static_cast<blkcnt_t>(s.volume().size() / 512);
        return 0;
      case Node::kStats:
      case Node::kStatsJson:
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = static_cast<off_t>(s.StatsFile(Lookup(path) == Node::kStatsJson).size());
        return 0;
      case Node::kNone:
        break;
    }
    return -ENOENT;
  });
}

int OpReaddir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, struct fuse_file_info*,
              enum fuse_readdir_flags) {
  return Guarded("readdir", [&] {
    if (Lookup(path) != Node::kRoot) return -ENOTDIR;
    const FuseFrontend& s = Self();
    filler(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    filler(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    filler(buf, s.config().file_name.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    if (!s.config().stats_name.empty()) {
      filler(buf, s.config().stats_name.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
      filler(buf, StatsJsonName(s.config().stats_name).c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    }
    return 0;
  });
}

int OpOpen(const char* path, struct fuse_file_info* fi) {
  return Guarded("open", [&] {
    FuseFrontend& s = Self();
    const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    switch (Lookup(path)) {
      case Node::kDisk:
        if (writing && s.read_only()) return -EROFS;
        // Only this daemon changes the data, so the kernel's page cache of
        // the file stays valid across opens.
        fi->keep_cache = 1;
        return 0;
      case Node::kStats:
      case Node::kStatsJson: {
        if (writing) return -EACCES;
        // A snapshot per open, served without the page cache.
        fi->fh = reinterpret_cast<std::uint64_t>(new std::string(s.StatsFile(Lookup(path) == Node::kStatsJson)));
        fi->direct_io = 1;
        return 0;
      }
      case Node::kRoot:
        return -EISDIR;
      case Node::kNone:
        break;
    }
    return -ENOENT;
  });
}

int OpRelease(const char* path, struct fuse_file_info* fi) {
  return Guarded("release", [&] {
    if (Lookup(path) == Node::kStats || Lookup(path) == Node::kStatsJson) delete reinterpret_cast<std::string*>(fi->fh);
    return 0;
  });
}

int OpRead(const char* path, char* buf, size_t size, off_t offset, struct fuse_file_info* fi) {
  return Guarded("read", [&] {
    FuseFrontend& s = Self();
    if (offset < 0) return -EINVAL;
    if (Lookup(path) == Node::kStats || Lookup(path) == Node::kStatsJson) {
      const auto* text = reinterpret_cast<const std::string*>(fi->fh);
      if (static_cast<std::uint64_t>(offset) >= text->size()) return 0;
      const std::size_t n = std::min(size, text->size() - static_cast<std::size_t>(offset));
      std::memcpy(buf, text->data() + offset, n);
      return static_cast<int>(n);
    }
    s.counters.NoteRead(size);
    std::size_t done = 0;
    if (auto ec = s.volume().Read(static_cast<std::uint64_t>(offset),
                                  {reinterpret_cast<std::uint8_t*>(buf), size}, done)) {
      spdlog::error("read of {} bytes at {}: {}", size, offset, ec.message());
      return Fail(ec);
    }
    return static_cast<int>(done);
  });
}

int OpWrite(const char* path, const char* buf, size_t size, off_t offset, struct fuse_file_info*) {
  return Guarded("write", [&] {
    FuseFrontend& s = Self();
    if (Lookup(path) != Node::kDisk) return -EACCES;
    if (s.read_only()) return -EROFS;
    if (offset < 0) return -EINVAL;
    s.counters.NoteWrite(size);
    std::size_t done = 0;
    auto ec = s.volume().Write(static_cast<std::uint64_t>(offset),
                               {reinterpret_cast<const std::uint8_t*>(buf), size}, done);
    if (done > 0) return static_cast<int>(done);  // short write; the error repeats on the rest
    if (ec) {
      if (ec != std::errc::file_too_large) {
        spdlog::error("write of {} bytes at {}: {}", size, offset, ec.message());
      }
      return Fail(ec);
    }
    return 0;
  });
}

int FlushAll(const char* op) {
  FuseFrontend& s = Self();
  if (s.read_only()) return 0;
  if (auto ec = s.volume().Flush()) {
    spdlog::error("{}: {}", op, ec.message());
    return Fail(ec);
  }
  return 0;
}

// close(2): nothing to wait for. Durability is fsync's job (and the
// unmount's); making every close wait for the store would fail a plain
// `dd` during an outage although its data is safely cached.
int OpFlush(const char*, struct fuse_file_info*) { return 0; }

int OpFsync(const char* path, int, struct fuse_file_info*) {
  return Guarded("fsync", [&] { return Lookup(path) == Node::kDisk ? FlushAll("fsync") : 0; });
}

// kResizeIoctl: the new size arrives in `data` (a fixed-size _IOW
// argument, which the kernel copies in for a restricted ioctl).
int ResizeIoctl(const char* path, const void* data) {
  FuseFrontend& s = Self();
  if (s.read_only()) return -EROFS;
  if (!s.resize || data == nullptr) return -ENOTTY;
  std::uint64_t size = 0;
  std::memcpy(&size, data, sizeof size);
  if (auto ec = s.resize(size)) return Fail(ec);
  // The kernel caches the file's size (attr_timeout): make it ask again.
  if (const int rc = fuse_invalidate_path(fuse_get_context()->fuse, path); rc != 0 && rc != -ENOENT) {
    spdlog::warn("resize: cannot make the kernel forget the old size of {}: {}", path, std::strerror(-rc));
  }
  return 0;
}

int OpIoctl(const char* path, unsigned int cmd, void*, struct fuse_file_info*, unsigned int, void* data) {
  return Guarded("ioctl", [&] {
    if (Lookup(path) == Node::kDisk && cmd == static_cast<unsigned int>(kResizeIoctl)) return ResizeIoctl(path, data);
    if (Lookup(path) != Node::kDisk || cmd != kSyncToStoreIoctl) return -ENOTTY;
    FuseFrontend& s = Self();
    if (s.read_only()) return 0;
    if (auto ec = s.volume().Flush(FlushLevel::kStore)) {
      spdlog::error("sync: {}", ec.message());
      return Fail(ec);
    }
    return 0;
  });
}

int OpFallocate(const char* path, int mode, off_t offset, off_t length, struct fuse_file_info*) {
  return Guarded("fallocate", [&] {
    FuseFrontend& s = Self();
    if (Lookup(path) != Node::kDisk) return -EOPNOTSUPP;
    if (offset < 0 || length <= 0) return -EINVAL;
    if (s.read_only()) return -EROFS;
    const auto off = static_cast<std::uint64_t>(offset);
    const auto len = static_cast<std::uint64_t>(length);
    const bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
    const bool past_end = off + len > s.volume().size();
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
      case 0:  // allocate: every byte of the disk already exists
        return past_end && !keep_size ? -EFBIG : 0;
      case FALLOC_FL_PUNCH_HOLE:
        if (!keep_size) return -EOPNOTSUPP;
        break;
      case FALLOC_FL_ZERO_RANGE:
        if (past_end && !keep_size) return -EFBIG;
        break;
      default:
        return -EOPNOTSUPP;
    }
    if (auto ec = s.volume().ZeroRange(off, len)) {
      spdlog::error("fallocate of {} bytes at {}: {}", len, off, ec.message());
      return Fail(ec);
    }
    return 0;
  });
}

int OpTruncate(const char* path, off_t size, struct fuse_file_info*) {
  return Guarded("truncate", [&] {
    switch (Lookup(path)) {
      case Node::kDisk:
        // Truncating to the current size is harmless; anything else is not.
        return static_cast<std::uint64_t>(size) == Self().volume().size() ? 0 : -EPERM;
      case Node::kNone:
        return -ENOENT;
      default:
        return -EPERM;
    }
  });
}

int OpStatfs(const char*, struct statvfs* st) {
  return Guarded("statfs", [&] {
    FuseFrontend& s = Self();
    std::memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = static_cast<unsigned long>(s.volume().geometry().block_size);
    st->f_blocks = s.volume().geometry().num_blocks;
    st->f_files = 3;
    st->f_namemax = 255;
    return 0;
  });
}

int OpDenied(const char*) { return -EPERM; }
int OpDenied2(const char*, const char*, unsigned int) { return -EPERM; }
int OpMkdir(const char*, mode_t) { return -EPERM; }
int OpCreate(const char*, mode_t, struct fuse_file_info*) { return -EPERM; }
int OpChmod(const char*, mode_t, struct fuse_file_info*) { return -EPERM; }
int OpChown(const char*, uid_t, gid_t, struct fuse_file_info*) { return -EPERM; }
int OpUtimens(const char*, const struct timespec[2], struct fuse_file_info*) { return 0; }

fuse_operations MakeOps() {
  fuse_operations ops{};
  ops.init = OpInit;
  ops.getattr = OpGetattr;
  ops.readdir = OpReaddir;
  ops.open = OpOpen;
  ops.release = OpRelease;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.fsync = OpFsync;
  ops.ioctl = OpIoctl;
  ops.fallocate = OpFallocate;
  ops.truncate = OpTruncate;
  ops.statfs = OpStatfs;
  ops.unlink = OpDenied;
  ops.rmdir = OpDenied;
  ops.rename = OpDenied2;
  ops.mkdir = OpMkdir;
  ops.create = OpCreate;
  ops.chmod = OpChmod;
  ops.chown = OpChown;
  ops.utimens = OpUtimens;
  return ops;
}

}  // namespace

FuseFrontend::FuseFrontend(Volume& volume, const MountConfig& config, bool read_only)
    : volume_(volume),
      config_(config),
      read_only_(read_only),
      mount_time_(std::time(nullptr)),
      uid_(::getuid()),
      gid_(::getgid()) {}

FuseFrontend::~FuseFrontend() {
  if (fuse_) {
    if (mounted_) fuse_unmount(fuse_);
    fuse_destroy(fuse_);
  }
}

StatsJson FuseFrontend::Stats() const {
  StatsJson d;
  d["pid"] = static_cast<long>(::getpid());
  d["mountpoint"] = config_.mountpoint;
  if (!status_file.empty()) d["status_file"] = status_file;
  return MakeStatsTree(volume_.store(), read_only_, "fuse", counters.ToJson(), std::move(d));
}

std::string FuseFrontend::StatsText() const { return RenderStatsText(Stats()); }

std::string FuseFrontend::StatsFile(bool json) const { return json ? Stats().dump(2) + "\n" : StatsText(); }

std::string StatsJsonName(const std::string& stats_name) { return "." + stats_name + ".json"; }

void FuseFrontend::Mount() {
  std::vector<std::string> args = {"s3bd", "-o", "default_permissions", "-o",
                                   "fsname=s3bd,subtype=s3bd"};
  if (read_only_) args.insert(args.end(), {"-o", "ro"});
  for (const auto& o : config_.fuse_options) args.insert(args.end(), {"-o", o});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  static const fuse_operations ops = MakeOps();
  fuse_ = fuse_new(&fargs, &ops, sizeof ops, this);
  fuse_opt_free_args(&fargs);
  if (!fuse_) {
    throw StartupError("cannot start FUSE (see the message above; check the -o options)");
  }
  if (fuse_mount(fuse_, config_.mountpoint.c_str()) != 0) {
    throw StartupError(fmt::format("cannot mount on {} (see the message above)", config_.mountpoint));
  }
  mounted_ = true;
}

void FuseFrontend::Run() {
  struct fuse_session* se = fuse_get_session(fuse_);
  // libfuse only takes over signals left at their default; a shell starts
  // background jobs with SIGINT ignored, and SIGINT/SIGTERM must always
  // unmount cleanly. (SIGHUP stays ignored under nohup.)
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se) != 0) throw StartupError("cannot install signal handlers");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw StartupError("pipe: " + std::string(std::strerror(errno)));
  std::thread watcher([this, fd = pipe_fds[0]] {
    char c;
    ssize_t n;
    while ((n = ::read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1 && on_stop_signal) on_stop_signal();  // n == 0: Run() is ending
    ::close(fd);
  });
  g_stop_pipe = pipe_fds[1];
  bool ours_installed[NSIG] = {};
  for (int sig : kStopSignals) {
    // A signal left ignored (SIGHUP under nohup) does not stop the daemon.
    ::sigaction(sig, nullptr, &g_fuse_action[sig]);
    if (g_fuse_action[sig].sa_handler == SIG_IGN) continue;
    struct sigaction ours {};
    ours.sa_handler = OnStopSignal;
    sigemptyset(&ours.sa_mask);
    ::sigaction(sig, &ours, nullptr);
    ours_installed[sig] = true;
  }
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 64);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  const int rc = fuse_loop_mt(fuse_, cfg);
  fuse_loop_cfg_destroy(cfg);
  for (int sig : kStopSignals) {
    if (ours_installed[sig]) ::sigaction(sig, &g_fuse_action[sig], nullptr);
  }
  fuse_remove_signal_handlers(se);
  g_stop_pipe = -1;
  ::close(pipe_fds[1]);
  watcher.join();
  if (rc != 0) spdlog::debug("FUSE loop ended with {}", rc);
  fuse_unmount(fuse_);
  mounted_ = false;
}

}  // namespace s3bd
