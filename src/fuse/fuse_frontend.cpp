// FUSE front end on libfuse's low-level API; see the header for the
// behaviour of each file and the data path.
#include "s3bd/fuse/fuse_frontend.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
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

// The kernel may cache attributes, names and missing names this long: only
// this daemon changes them (a resize tells it, InvalidateDiskAttributes).
constexpr double kTimeout = 3600;

FuseFrontend& Self(fuse_req_t req) { return *static_cast<FuseFrontend*>(fuse_req_userdata(req)); }

enum class Node { kRoot, kDisk, kStats, kStatsJson, kNone };

Node NodeOf(const FuseFrontend& s, fuse_ino_t ino) {
  switch (ino) {
    case FuseFrontend::kRootInode:
      return Node::kRoot;
    case FuseFrontend::kDiskInode:
      return Node::kDisk;
    case FuseFrontend::kStatsInode:
      return s.config().stats_name.empty() ? Node::kNone : Node::kStats;
    case FuseFrontend::kStatsJsonInode:
      return s.config().stats_name.empty() ? Node::kNone : Node::kStatsJson;
    default:
      return Node::kNone;
  }
}

// The inode of `name` in the root directory, 0 if none.
fuse_ino_t ChildOf(const FuseFrontend& s, const char* name) {
  if (s.config().file_name == name) return FuseFrontend::kDiskInode;
  if (s.config().stats_name.empty()) return 0;
  if (s.config().stats_name == name) return FuseFrontend::kStatsInode;
  if (StatsJsonName(s.config().stats_name) == name) return FuseFrontend::kStatsJsonInode;
  return 0;
}

// The single error_code -> errno conversion of the daemon.
int Fail(FuseFrontend& s, std::error_code ec) {
  s.counters.errors.fetch_add(1, std::memory_order_relaxed);
  return ToErrno(ec);
}

// Runs a callback body that either replies itself and returns 0, or returns
// an errno for this wrapper to reply with. Exceptions (thrown only before
// a reply) become EIO / ENOMEM replies.
template <typename Fn>
void Serve(fuse_req_t req, const char* op, Fn&& fn) noexcept {
  int err;
  try {
    err = fn();
  } catch (const std::bad_alloc&) {
    err = ENOMEM;
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", op, e.what());
    err = EIO;
  } catch (...) {
    err = EIO;
  }
  if (err != 0) fuse_reply_err(req, err);
}

// Fills `st` for the node; false for kNone.
bool Attributes(FuseFrontend& s, Node node, fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_uid = s.uid();
  st->st_gid = s.gid();
  st->st_atime = st->st_mtime = st->st_ctime = s.mount_time();
  st->st_blksize = static_cast<blksize_t>(s.volume().geometry().block_size);
  switch (node) {
    case Node::kRoot:
      st->st_mode = S_IFDIR | 0755;
      st->st_nlink = 2;
      return true;
    case Node::kDisk:
      st->st_mode = S_IFREG | (s.config().file_mode & 07777);
      if (s.read_only()) st->st_mode &= ~0222;
      st->st_nlink = 1;
      // Live: a resize changes it (after InvalidateDiskAttributes()).
      st->st_size = static_cast<off_t>(s.volume().size());
      st->st_blocks = static_cast<blkcnt_t>(s.volume().size() / 512);
      return true;
    case Node::kStats:
    case Node::kStatsJson:
      st->st_mode = S_IFREG | 0444;
      st->st_nlink = 1;
      st->st_size = static_cast<off_t>(s.StatsFile(node == Node::kStatsJson).size());
      return true;
    case Node::kNone:
      break;
  }
  return false;
}

void OpInit(void*, struct fuse_conn_info* conn) {
  // Allow 1 MiB requests (the kernel caps this at its own maximum).
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
  // Asynchronous direct I/O (libaio, a loop device with direct I/O) reaches
  // us as "background" requests, of which the kernel lets max_background be
  // outstanding (default 12): too few to keep 20 ms round trips busy.
  conn->max_background = 128;
  conn->congestion_threshold = 96;
  // No splice: a read reply is written from the cached blocks with one
  // writev (the one copy, the kernel's, into the reader's pages). With
  // splice, libfuse vmsplices the pieces into a pipe and splices that to
  // /dev/fuse: more daemon CPU per byte in our measurement, and a 1 MiB
  // reply does not fit in a pipe without CAP_SYS_RESOURCE, so libfuse falls
  // back to writev, copying first a reply of several pieces (README, The
  // FUSE path). Writes arrive in libfuse's
  // buffer (no write_buf callback: libfuse does not splice them either).
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "lookup", [&] {
    FuseFrontend& s = Self(req);
    if (NodeOf(s, parent) != Node::kRoot) return ENOTDIR;
    struct fuse_entry_param e {};
    e.entry_timeout = kTimeout;  // also for a missing name (ino 0): cached as such
    e.attr_timeout = kTimeout;
    const fuse_ino_t ino = ChildOf(s, name);
    if (ino != 0) {
      Attributes(s, NodeOf(s, ino), ino, &e.attr);
      e.ino = ino;
      e.generation = 1;
    }
    fuse_reply_entry(req, &e);
    return 0;
  });
}

// Inodes are fixed: nothing to forget.
void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }
void OpForgetMulti(fuse_req_t req, size_t, struct fuse_forget_data*) { fuse_reply_none(req); }

void OpGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  Serve(req, "getattr", [&] {
    FuseFrontend& s = Self(req);
    struct stat st;
    if (!Attributes(s, NodeOf(s, ino), ino, &st)) return ENOENT;
    fuse_reply_attr(req, &st, kTimeout);
    return 0;
  });
}

// chmod, chown and truncate to another size are refused; times are
// accepted and ignored (touch works).
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, struct fuse_file_info*) {
  Serve(req, "setattr", [&] {
    FuseFrontend& s = Self(req);
    const Node node = NodeOf(s, ino);
    if (node == Node::kNone) return ENOENT;
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) return EPERM;
    if (to_set & FUSE_SET_ATTR_SIZE) {
      // Truncating to the current size is harmless; anything else is not.
      if (node != Node::kDisk || attr->st_size < 0 ||
          static_cast<std::uint64_t>(attr->st_size) != s.volume().size()) {
        return EPERM;
      }
    }
    struct stat st;
    Attributes(s, node, ino, &st);
    fuse_reply_attr(req, &st, kTimeout);
    return 0;
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  Serve(req, "readdir", [&] {
    FuseFrontend& s = Self(req);
    if (NodeOf(s, ino) != Node::kRoot) return ENOTDIR;
    std::vector<std::pair<std::string, fuse_ino_t>> entries = {
        {".", FuseFrontend::kRootInode}, {"..", FuseFrontend::kRootInode}, {s.config().file_name, FuseFrontend::kDiskInode}};
    if (!s.config().stats_name.empty()) {
      entries.emplace_back(s.config().stats_name, FuseFrontend::kStatsInode);
      entries.emplace_back(StatsJsonName(s.config().stats_name), FuseFrontend::kStatsJsonInode);
    }
    // Entry i's offset (where the next read starts) is i + 1.
    std::vector<char> buf(size);
    std::size_t used = 0;
    for (std::size_t i = off < 0 ? 0 : static_cast<std::size_t>(off); i < entries.size(); ++i) {
      struct stat st {};
      st.st_ino = entries[i].second;
      st.st_mode = entries[i].second == FuseFrontend::kRootInode ? S_IFDIR : S_IFREG;
      const std::size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(), &st,
                                                 static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
    return 0;
  });
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Serve(req, "open", [&] {
    FuseFrontend& s = Self(req);
    const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    switch (const Node node = NodeOf(s, ino)) {
      case Node::kDisk:
        if (writing && s.read_only()) return EROFS;
        // Only this daemon changes the data, so the kernel's page cache of
        // the file stays valid across opens.
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
        return 0;
      case Node::kStats:
      case Node::kStatsJson: {
        if (writing) return EACCES;
        // A snapshot per open, served without the page cache.
        auto text = std::make_unique<std::string>(s.StatsFile(node == Node::kStatsJson));
        fi->fh = reinterpret_cast<std::uint64_t>(text.get());
        fi->direct_io = 1;
        if (fuse_reply_open(req, fi) == 0) {
          text.release();  // freed by release
        }
        return 0;
      }
      case Node::kRoot:
        return EISDIR;
      case Node::kNone:
        break;
    }
    return ENOENT;
  });
}

void OpRelease(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Serve(req, "release", [&] {
    const Node node = NodeOf(Self(req), ino);
    if (node == Node::kStats || node == Node::kStatsJson) delete reinterpret_cast<std::string*>(fi->fh);
    fuse_reply_err(req, 0);
    return 0;
  });
}

// The lent pieces of the read being answered on this thread: released (and
// the cache free to recycle their buffers) once the reply is written.
thread_local std::vector<BlockRef> t_pieces;
thread_local std::vector<struct iovec> t_iov;

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info* fi) {
  Serve(req, "read", [&] {
    FuseFrontend& s = Self(req);
    if (offset < 0) return EINVAL;
    const Node node = NodeOf(s, ino);
    if (node == Node::kStats || node == Node::kStatsJson) {
      const auto* text = reinterpret_cast<const std::string*>(fi->fh);
      if (static_cast<std::uint64_t>(offset) >= text->size()) {
        fuse_reply_buf(req, nullptr, 0);
        return 0;
      }
      const std::size_t n = std::min(size, text->size() - static_cast<std::size_t>(offset));
      fuse_reply_buf(req, text->data() + offset, n);
      return 0;
    }
    if (node != Node::kDisk) return EBADF;
    s.counters.NoteRead(size);
    struct Drop {
      ~Drop() { t_pieces.clear(); }
    } drop;
    t_pieces.clear();
    if (auto ec = s.volume().ReadShared(static_cast<std::uint64_t>(offset), size, t_pieces)) {
      spdlog::error("read of {} bytes at {}: {}", size, offset, ec.message());
      return Fail(s, ec);
    }
    if (t_pieces.empty()) {
      fuse_reply_buf(req, nullptr, 0);  // at or past the end
      return 0;
    }
    t_iov.resize(t_pieces.size());
    for (std::size_t i = 0; i < t_pieces.size(); ++i) {
      t_iov[i].iov_base = const_cast<std::uint8_t*>(t_pieces[i].data);
      t_iov[i].iov_len = t_pieces[i].size;
    }
    // writev(2) to /dev/fuse: the kernel copies straight from the blocks.
    // (1 MiB requests of blocks of at least 4 KiB: at most 256 iovecs.)
    fuse_reply_iov(req, t_iov.data(), static_cast<int>(t_iov.size()));
    return 0;
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t offset, struct fuse_file_info*) {
  Serve(req, "write", [&] {
    FuseFrontend& s = Self(req);
    if (NodeOf(s, ino) != Node::kDisk) return EACCES;
    if (s.read_only()) return EROFS;
    if (offset < 0) return EINVAL;
    s.counters.NoteWrite(size);
    // The bytes stay in libfuse's request buffer: the cache copies them once
    // into its block.
    std::size_t done = 0;
    auto ec = s.volume().Write(static_cast<std::uint64_t>(offset),
                               {reinterpret_cast<const std::uint8_t*>(buf), size}, done);
    if (done > 0 || !ec) {
      fuse_reply_write(req, done);  // short write: the error repeats on the rest
      return 0;
    }
    if (ec != std::errc::file_too_large) {
      spdlog::error("write of {} bytes at {}: {}", size, offset, ec.message());
    }
    return Fail(s, ec);
  });
}

int FlushAll(FuseFrontend& s, const char* op) {
  if (s.read_only()) return 0;
  if (auto ec = s.volume().Flush()) {
    spdlog::error("{}: {}", op, ec.message());
    return Fail(s, ec);
  }
  return 0;
}

// close(2): nothing to wait for. Durability is fsync's job (and the
// unmount's); making every close wait for the store would fail a plain
// `dd` during an outage although its data is safely cached.
void OpFlush(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }

void OpFsync(fuse_req_t req, fuse_ino_t ino, int, struct fuse_file_info*) {
  Serve(req, "fsync", [&] {
    FuseFrontend& s = Self(req);
    if (const int err = NodeOf(s, ino) == Node::kDisk ? FlushAll(s, "fsync") : 0) return err;
    fuse_reply_err(req, 0);
    return 0;
  });
}

// kResizeIoctl: the new size arrives in `in_buf` (a fixed-size _IOW
// argument, which the kernel copies in for a restricted ioctl).
int ResizeIoctl(FuseFrontend& s, const void* in_buf, size_t in_bufsz) {
  if (s.read_only()) return EROFS;
  if (!s.resize) return ENOTTY;
  std::uint64_t size = 0;
  if (in_buf == nullptr || in_bufsz != sizeof size) return EINVAL;
  std::memcpy(&size, in_buf, sizeof size);
  if (auto ec = s.resize(size)) return Fail(s, ec);
  // The kernel caches the file's size (attr_timeout): make it ask again.
  if (auto ec = s.InvalidateDiskAttributes()) {
    spdlog::warn("resize: cannot make the kernel forget the old size of the disk file: {}", ec.message());
  }
  return 0;
}

void OpIoctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void*, struct fuse_file_info*, unsigned,
             const void* in_buf, size_t in_bufsz, size_t) {
  Serve(req, "ioctl", [&] {
    FuseFrontend& s = Self(req);
    if (NodeOf(s, ino) == Node::kDisk && cmd == static_cast<unsigned int>(kResizeIoctl)) {
      if (const int err = ResizeIoctl(s, in_buf, in_bufsz)) return err;
      fuse_reply_ioctl(req, 0, nullptr, 0);
      return 0;
    }
    if (NodeOf(s, ino) != Node::kDisk || cmd != kSyncToStoreIoctl) return ENOTTY;
    if (!s.read_only()) {
      if (auto ec = s.volume().Flush(FlushLevel::kStore)) {
        spdlog::error("sync: {}", ec.message());
        return Fail(s, ec);
      }
    }
    fuse_reply_ioctl(req, 0, nullptr, 0);
    return 0;
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info*) {
  Serve(req, "fallocate", [&] {
    FuseFrontend& s = Self(req);
    if (NodeOf(s, ino) != Node::kDisk) return EOPNOTSUPP;
    if (offset < 0 || length <= 0) return EINVAL;
    if (s.read_only()) return EROFS;
    const auto off = static_cast<std::uint64_t>(offset);
    const auto len = static_cast<std::uint64_t>(length);
    const bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
    const bool past_end = off + len > s.volume().size();
    bool zero = true;
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
      case 0:  // allocate: every byte of the disk already exists
        if (past_end && !keep_size) return EFBIG;
        zero = false;
        break;
      case FALLOC_FL_PUNCH_HOLE:
        if (!keep_size) return EOPNOTSUPP;
        break;
      case FALLOC_FL_ZERO_RANGE:
        if (past_end && !keep_size) return EFBIG;
        break;
      default:
        return EOPNOTSUPP;
    }
    if (zero) {
      if (auto ec = s.volume().ZeroRange(off, len)) {
        spdlog::error("fallocate of {} bytes at {}: {}", len, off, ec.message());
        return Fail(s, ec);
      }
    }
    fuse_reply_err(req, 0);
    return 0;
  });
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Serve(req, "statfs", [&] {
    FuseFrontend& s = Self(req);
    struct statvfs st;
    std::memset(&st, 0, sizeof st);
    st.f_bsize = st.f_frsize = static_cast<unsigned long>(s.volume().geometry().block_size);
    st.f_blocks = s.volume().geometry().num_blocks;
    st.f_files = 3;
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
    return 0;
  });
}

// The directory's contents are fixed.
void OpDenied(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void OpRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int) {
  fuse_reply_err(req, EPERM);
}
void OpMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EPERM); }
void OpMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EPERM); }
void OpCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, struct fuse_file_info*) { fuse_reply_err(req, EPERM); }

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readdir = OpReaddir;
  ops.open = OpOpen;
  ops.release = OpRelease;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.fsync = OpFsync;
  ops.ioctl = OpIoctl;
  ops.fallocate = OpFallocate;
  ops.statfs = OpStatfs;
  ops.unlink = OpDenied;
  ops.rmdir = OpDenied;
  ops.rename = OpRename;
  ops.mkdir = OpMkdir;
  ops.mknod = OpMknod;
  ops.create = OpCreate;
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
  if (session_) {
    if (mounted_) fuse_session_unmount(session_);
    fuse_session_destroy(session_);
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

std::error_code FuseFrontend::InvalidateDiskAttributes() {
  if (!session_ || !mounted_) return {};
  // Attributes only (offset -1): the cached data of the bytes that remain
  // is still right.
  const int rc = fuse_lowlevel_notify_inval_inode(session_, kDiskInode, -1, 0);
  if (rc == 0 || rc == -ENOENT) return {};  // ENOENT: nothing cached
  return {-rc, std::generic_category()};
}

void FuseFrontend::Mount() {
  std::vector<std::string> args = {"s3bd", "-o", "default_permissions", "-o",
                                   "fsname=s3bd,subtype=s3bd"};
  if (read_only_) args.insert(args.end(), {"-o", "ro"});
  for (const auto& o : config_.fuse_options) args.insert(args.end(), {"-o", o});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  static const fuse_lowlevel_ops ops = MakeOps();
  session_ = fuse_session_new(&fargs, &ops, sizeof ops, this);
  fuse_opt_free_args(&fargs);
  if (!session_) {
    throw StartupError("cannot start FUSE (see the message above; check the -o options)");
  }
  if (fuse_session_mount(session_, config_.mountpoint.c_str()) != 0) {
    throw StartupError(fmt::format("cannot mount on {} (see the message above)", config_.mountpoint));
  }
  mounted_ = true;
}

void FuseFrontend::Run() {
  struct fuse_session* se = session_;
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
  const int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  for (int sig : kStopSignals) {
    if (ours_installed[sig]) ::sigaction(sig, &g_fuse_action[sig], nullptr);
  }
  fuse_remove_signal_handlers(se);
  g_stop_pipe = -1;
  ::close(pipe_fds[1]);
  watcher.join();
  if (rc != 0) spdlog::debug("FUSE loop ended with {}", rc);
  fuse_session_unmount(se);
  mounted_ = false;
}

}  // namespace s3bd
