// s3bd_bench_memfuse: the FUSE ceiling of the benchmark (scripts/bench.sh).
//
// A trivial FUSE filesystem, built like s3bd's front end (libfuse3 low-level
// API, read replies written straight from memory, multithreaded loop with
// the same thread limits, 1 MiB max_write), that
// shows one file whose bytes live in RAM. Whatever s3bd or s3backer reach, the
// same I/O against this file bounds what any FUSE daemon can reach on this
// machine: it does no work beyond copying bytes.
//
//   s3bd_bench_memfuse --size SIZE [--file-name NAME] [-o OPT]... MOUNTPOINT
//
// It always runs in the foreground and exits 0 after an unmount, SIGINT or
// SIGTERM. The memory is an anonymous mapping: pages cost RAM only once
// written, and reads of untouched pages return zeros.
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Overlapping concurrent requests are serialised per 1 MiB stripe, so the
// byte copies never race; requests on different stripes run in parallel.
constexpr std::uint64_t kStripeShift = 20;
constexpr std::size_t kStripes = 256;

struct MemFile {
  std::string name = "file";
  std::uint64_t size = 0;
  std::uint8_t* data = nullptr;
  std::mutex stripes[kStripes];
  uid_t uid = 0;
  gid_t gid = 0;
  time_t mtime = 0;
};

MemFile g_file;

// Locks the stripes a byte range touches (each at most once, in index order).
class RangeLock {
 public:
  RangeLock(std::uint64_t offset, std::uint64_t len) {
    const std::uint64_t first = offset >> kStripeShift;
    const std::uint64_t last = (offset + len - 1) >> kStripeShift;
    const std::uint64_t n = std::min<std::uint64_t>(last - first + 1, kStripes);
    for (std::uint64_t i = 0; i < n; ++i) idx_.push_back((first + i) % kStripes);
    std::sort(idx_.begin(), idx_.end());
    for (std::size_t i : idx_) g_file.stripes[i].lock();
  }
  ~RangeLock() {
    for (std::size_t i : idx_) g_file.stripes[i].unlock();
  }
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

 private:
  std::vector<std::size_t> idx_;
};

constexpr fuse_ino_t kFileInode = 2;
constexpr double kTimeout = 3600;

void FileAttr(fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_uid = g_file.uid;
  st->st_gid = g_file.gid;
  st->st_atime = st->st_mtime = st->st_ctime = g_file.mtime;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return;
  }
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(g_file.size);
  st->st_blocks = static_cast<blkcnt_t>(g_file.size / 512);
  st->st_blksize = 1 << 20;
}

void OpInit(void*, struct fuse_conn_info* conn) {
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  struct fuse_entry_param e {};
  e.entry_timeout = kTimeout;
  e.attr_timeout = kTimeout;
  if (parent == FUSE_ROOT_ID && g_file.name == name) {
    e.ino = kFileInode;
    e.generation = 1;
    FileAttr(kFileInode, &e.attr);
  }
  fuse_reply_entry(req, &e);
}

void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }

void OpGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID && ino != kFileInode) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st;
  FileAttr(ino, &st);
  fuse_reply_attr(req, &st, kTimeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, struct fuse_file_info*) {
  if (ino != kFileInode || (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) ||
      ((to_set & FUSE_SET_ATTR_SIZE) && static_cast<std::uint64_t>(attr->st_size) != g_file.size)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  struct stat st;
  FileAttr(ino, &st);
  fuse_reply_attr(req, &st, kTimeout);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  const std::pair<const char*, fuse_ino_t> entries[] = {{".", FUSE_ROOT_ID}, {"..", FUSE_ROOT_ID},
                                                        {g_file.name.c_str(), kFileInode}};
  std::vector<char> buf(size);
  std::size_t used = 0;
  for (std::size_t i = off < 0 ? 0 : static_cast<std::size_t>(off); i < 3; ++i) {
    struct stat st {};
    st.st_ino = entries[i].second;
    st.st_mode = entries[i].second == FUSE_ROOT_ID ? S_IFDIR : S_IFREG;
    const std::size_t need =
        fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first, &st, static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino != kFileInode) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
    return;
  }
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

// The byte range [offset, offset+size) clipped to the file; 0 past the end.
std::size_t Clip(std::size_t size, off_t offset) {
  if (offset < 0 || static_cast<std::uint64_t>(offset) >= g_file.size) return 0;
  return static_cast<std::size_t>(
      std::min<std::uint64_t>(size, g_file.size - static_cast<std::uint64_t>(offset)));
}

// The reply is written straight from the file's memory (the one copy is the
// kernel's, into the reader's pages), as s3bd's front end replies from its
// cached blocks.
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info*) {
  if (ino != kFileInode || offset < 0) {
    fuse_reply_err(req, ino != kFileInode ? ENOENT : EINVAL);
    return;
  }
  const std::size_t n = Clip(size, offset);
  if (n == 0) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  RangeLock lock(static_cast<std::uint64_t>(offset), n);
  fuse_reply_buf(req, reinterpret_cast<const char*>(g_file.data + offset), n);
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t offset, struct fuse_file_info*) {
  if (ino != kFileInode || offset < 0) {
    fuse_reply_err(req, ino != kFileInode ? ENOENT : EINVAL);
    return;
  }
  if (size == 0) {
    fuse_reply_write(req, 0);
    return;
  }
  const std::size_t n = Clip(size, offset);
  if (n == 0) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  {
    RangeLock lock(static_cast<std::uint64_t>(offset), n);
    std::memcpy(g_file.data + offset, buf, n);
  }
  fuse_reply_write(req, n);
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info*) {
  if (ino != kFileInode) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if (offset < 0 || length <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const bool punch = (mode & FALLOC_FL_PUNCH_HOLE) != 0 || (mode & FALLOC_FL_ZERO_RANGE) != 0;
  if (!punch) {
    fuse_reply_err(req, mode == 0 ? 0 : EOPNOTSUPP);
    return;
  }
  const std::size_t n = Clip(static_cast<std::size_t>(length), offset);
  if (n != 0) {
    RangeLock lock(static_cast<std::uint64_t>(offset), n);
    std::memset(g_file.data + offset, 0, n);
  }
  fuse_reply_err(req, 0);
}

void OpOk(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }
void OpFsync(fuse_req_t req, fuse_ino_t, int, struct fuse_file_info*) { fuse_reply_err(req, 0); }

std::uint64_t ParseSize(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str()) return 0;
  std::uint64_t mult = 1;
  const std::string suffix(end);
  if (suffix == "K" || suffix == "k") mult = 1ull << 10;
  else if (suffix == "M" || suffix == "m") mult = 1ull << 20;
  else if (suffix == "G" || suffix == "g") mult = 1ull << 30;
  else if (!suffix.empty()) return 0;
  return v * mult;
}

int Usage() {
  std::fprintf(stderr,
               "usage: s3bd_bench_memfuse --size SIZE [--file-name NAME] [-o OPT]... MOUNTPOINT\n"
               "  SIZE: bytes with optional K/M/G suffix (binary)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mountpoint;
  std::vector<std::string> fuse_opts = {"default_permissions", "fsname=memfuse,subtype=memfuse"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--size" && i + 1 < argc) {
      g_file.size = ParseSize(argv[++i]);
      if (g_file.size == 0) return Usage();
    } else if (a == "--file-name" && i + 1 < argc) {
      g_file.name = argv[++i];
    } else if (a == "-o" && i + 1 < argc) {
      fuse_opts.emplace_back(argv[++i]);
    } else if (a == "-h" || a == "--help") {
      Usage();
      return 0;
    } else if (!a.empty() && a[0] != '-' && mountpoint.empty()) {
      mountpoint = a;
    } else {
      return Usage();
    }
  }
  if (mountpoint.empty() || g_file.size == 0 || g_file.name.empty() ||
      g_file.name.find('/') != std::string::npos) {
    return Usage();
  }

  void* mem = mmap(nullptr, g_file.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("memfuse: mmap");
    return 1;
  }
  g_file.data = static_cast<std::uint8_t*>(mem);
  g_file.uid = getuid();
  g_file.gid = getgid();
  g_file.mtime = std::time(nullptr);

  struct fuse_lowlevel_ops ops {};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readdir = OpReaddir;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.fallocate = OpFallocate;
  ops.fsync = OpFsync;
  ops.flush = OpOk;
  ops.release = OpOk;

  std::vector<std::string> args = {"s3bd_bench_memfuse"};
  for (const auto& o : fuse_opts) args.insert(args.end(), {"-o", o});
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  struct fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&fargs);
  if (se == nullptr) return 1;
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return 1;
  }
  // Background jobs of a shell start with SIGINT ignored; libfuse only takes
  // over signals left at their default.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return 1;
  }
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 64);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  const int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  munmap(mem, g_file.size);
  return rc == 0 ? 0 : 1;
}
