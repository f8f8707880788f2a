// s3bd_bench_memfuse: the FUSE ceiling of the benchmark (scripts/bench.sh).
//
// A trivial FUSE filesystem, built like s3bd's front end (libfuse3 high-level
// API, multithreaded loop with the same thread limits, 1 MiB max_write), that
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
#include <fuse3/fuse.h>
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

bool IsFile(const char* path) { return path[0] == '/' && g_file.name == path + 1; }

void* OpInit(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  cfg->attr_timeout = 3600;
  cfg->entry_timeout = 3600;
  cfg->negative_timeout = 3600;
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
  return nullptr;
}

int OpGetattr(const char* path, struct stat* st, struct fuse_file_info*) {
  std::memset(st, 0, sizeof *st);
  st->st_uid = g_file.uid;
  st->st_gid = g_file.gid;
  st->st_atime = st->st_mtime = st->st_ctime = g_file.mtime;
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (IsFile(path)) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(g_file.size);
    st->st_blocks = static_cast<blkcnt_t>(g_file.size / 512);
    st->st_blksize = 1 << 20;
    return 0;
  }
  return -ENOENT;
}

int OpReaddir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, struct fuse_file_info*,
              enum fuse_readdir_flags) {
  if (std::strcmp(path, "/") != 0) return -ENOTDIR;
  const auto none = static_cast<fuse_fill_dir_flags>(0);
  filler(buf, ".", nullptr, 0, none);
  filler(buf, "..", nullptr, 0, none);
  filler(buf, g_file.name.c_str(), nullptr, 0, none);
  return 0;
}

int OpOpen(const char* path, struct fuse_file_info* fi) {
  if (!IsFile(path)) return std::strcmp(path, "/") == 0 ? -EISDIR : -ENOENT;
  fi->keep_cache = 1;
  return 0;
}

// The byte range [offset, offset+size) clipped to the file; 0 past the end.
std::size_t Clip(std::size_t size, off_t offset) {
  if (offset < 0 || static_cast<std::uint64_t>(offset) >= g_file.size) return 0;
  return static_cast<std::size_t>(
      std::min<std::uint64_t>(size, g_file.size - static_cast<std::uint64_t>(offset)));
}

int OpRead(const char* path, char* buf, size_t size, off_t offset, struct fuse_file_info*) {
  if (!IsFile(path)) return -ENOENT;
  if (offset < 0) return -EINVAL;
  const std::size_t n = Clip(size, offset);
  if (n == 0) return 0;
  RangeLock lock(static_cast<std::uint64_t>(offset), n);
  std::memcpy(buf, g_file.data + offset, n);
  return static_cast<int>(n);
}

int OpWrite(const char* path, const char* buf, size_t size, off_t offset, struct fuse_file_info*) {
  if (!IsFile(path)) return -ENOENT;
  if (offset < 0) return -EINVAL;
  if (size == 0) return 0;
  const std::size_t n = Clip(size, offset);
  if (n == 0) return -EFBIG;
  RangeLock lock(static_cast<std::uint64_t>(offset), n);
  std::memcpy(g_file.data + offset, buf, n);
  return static_cast<int>(n);
}

int OpTruncate(const char* path, off_t size, struct fuse_file_info*) {
  if (!IsFile(path)) return -ENOENT;
  return static_cast<std::uint64_t>(size) == g_file.size ? 0 : -EPERM;
}

int OpFallocate(const char* path, int mode, off_t offset, off_t length, struct fuse_file_info*) {
  if (!IsFile(path)) return -ENOENT;
  if (offset < 0 || length <= 0) return -EINVAL;
  const bool punch = (mode & FALLOC_FL_PUNCH_HOLE) != 0 || (mode & FALLOC_FL_ZERO_RANGE) != 0;
  if (!punch) return mode == 0 ? 0 : -EOPNOTSUPP;
  const std::size_t n = Clip(static_cast<std::size_t>(length), offset);
  if (n == 0) return 0;
  RangeLock lock(static_cast<std::uint64_t>(offset), n);
  std::memset(g_file.data + offset, 0, n);
  return 0;
}

int OpFsync(const char*, int, struct fuse_file_info*) { return 0; }
int OpFlush(const char*, struct fuse_file_info*) { return 0; }
int OpRelease(const char*, struct fuse_file_info*) { return 0; }

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

  struct fuse_operations ops {};
  ops.init = OpInit;
  ops.getattr = OpGetattr;
  ops.readdir = OpReaddir;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.truncate = OpTruncate;
  ops.fallocate = OpFallocate;
  ops.fsync = OpFsync;
  ops.flush = OpFlush;
  ops.release = OpRelease;

  std::vector<std::string> args = {"s3bd_bench_memfuse"};
  for (const auto& o : fuse_opts) args.insert(args.end(), {"-o", o});
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  struct fuse* fuse = fuse_new(&fargs, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&fargs);
  if (fuse == nullptr) return 1;
  if (fuse_mount(fuse, mountpoint.c_str()) != 0) {
    fuse_destroy(fuse);
    return 1;
  }
  struct fuse_session* se = fuse_get_session(fuse);
  // Background jobs of a shell start with SIGINT ignored; libfuse only takes
  // over signals left at their default.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    return 1;
  }
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 64);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  const int rc = fuse_loop_mt(fuse, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  fuse_unmount(fuse);
  fuse_destroy(fuse);
  munmap(mem, g_file.size);
  return rc == 0 ? 0 : 1;
}
