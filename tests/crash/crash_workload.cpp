// s3bd_crash_workload: the writer and the checker of tests/mount/crash_test.sh.
//
//   run DISK MODEL PENDING SEED [GROUPS]
//       Random writes to DISK (O_DIRECT, 4 KiB-aligned, 4 KiB to 256 KiB) in
//       groups of 1 to 8, each group followed by fsync(2). Once an fsync has
//       returned, its group is applied to MODEL (the content DISK must
//       have). On the first error (the daemon was killed) it writes the
//       writes not covered by a completed fsync to PENDING and exits 0; with
//       GROUPS, it stops after that many groups (PENDING is then empty).
//   check DISK MODEL PENDING
//       DISK must equal MODEL, except that a 4 KiB sector written by a
//       PENDING write may hold that write's data instead of the old. Then
//       MODEL takes DISK's content for those sectors (what the disk holds
//       from now on). Exit status 1 on a mismatch, with the first ones.
//
// A write's data is a function of (seed, index), so PENDING holds only
// "offset length seed index" lines.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kSector = 4096;

struct Write {
  std::uint64_t offset, length, seed, index;
};

struct AlignedFree {
  void operator()(std::uint8_t* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::uint8_t[], AlignedFree>;

Buffer Aligned(std::size_t n) { return Buffer(static_cast<std::uint8_t*>(std::aligned_alloc(kSector, n))); }

std::uint64_t SplitMix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The data of write `index` of run `seed`: never all zero in any sector.
void Fill(const Write& w, std::uint8_t* out) {
  std::uint64_t x = w.seed * 1000003 + w.index;
  for (std::size_t i = 0; i < w.length; i += 8) {
    std::uint64_t v = SplitMix(x) | 1;
    std::memcpy(out + i, &v, 8);
  }
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "s3bd_crash_workload: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

std::uint64_t SizeOf(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) Die("fstat");
  return static_cast<std::uint64_t>(st.st_size);
}

bool PwriteAll(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
  return true;
}

bool PreadAll(int fd, std::uint8_t* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
  return true;
}

void SavePending(const std::string& path, const std::vector<Write>& pending) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  for (const Write& w : pending) out << w.offset << ' ' << w.length << ' ' << w.seed << ' ' << w.index << '\n';
  out.close();
  if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) Die("writing " + path);
}

std::vector<Write> LoadPending(const std::string& path) {
  std::vector<Write> list;
  std::ifstream in(path);
  Write w;
  while (in >> w.offset >> w.length >> w.seed >> w.index) list.push_back(w);
  return list;
}

int Run(const std::string& disk_path, const std::string& model_path, const std::string& pending_path,
        std::uint64_t seed, long groups) {
  const int disk = ::open(disk_path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (disk < 0) Die("open " + disk_path);
  const int model = ::open(model_path.c_str(), O_RDWR | O_CLOEXEC);
  if (model < 0) Die("open " + model_path);
  const std::uint64_t sectors = SizeOf(disk) / kSector;
  std::mt19937_64 rng(seed);
  Buffer buf = Aligned(64 * kSector);
  std::vector<Write> pending;
  std::uint64_t index = 0;
  for (long g = 0; groups < 0 || g < groups; ++g) {
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      Write w;
      w.length = kSector * (1 + rng() % 64);
      w.offset = kSector * (rng() % (sectors - w.length / kSector + 1));
      w.seed = seed;
      w.index = ++index;
      pending.push_back(w);
      Fill(w, buf.get());
      if (!PwriteAll(disk, buf.get(), w.length, w.offset)) {
        SavePending(pending_path, pending);
        std::printf("stopped by a failed write after %ld fsyncs (%s)\n", g, std::strerror(errno));
        return 0;
      }
    }
    if (::fsync(disk) != 0) {
      SavePending(pending_path, pending);
      std::printf("stopped by a failed fsync after %ld fsyncs (%s)\n", g, std::strerror(errno));
      return 0;
    }
    // Covered by a completed fsync: now part of what the disk must hold.
    for (const Write& w : pending) {
      Fill(w, buf.get());
      if (!PwriteAll(model, buf.get(), w.length, w.offset)) Die("write " + model_path);
    }
    pending.clear();
  }
  SavePending(pending_path, pending);
  std::printf("%ld groups written and synced\n", groups);
  return 0;
}

int Check(const std::string& disk_path, const std::string& model_path, const std::string& pending_path) {
  const int disk = ::open(disk_path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (disk < 0) Die("open " + disk_path);
  const int model = ::open(model_path.c_str(), O_RDWR | O_CLOEXEC);
  if (model < 0) Die("open " + model_path);
  const std::uint64_t size = SizeOf(disk);
  if (SizeOf(model) != size) {
    std::fprintf(stderr, "model and disk differ in size\n");
    return 1;
  }
  // Sector -> the pending writes that cover it.
  const std::vector<Write> pending = LoadPending(pending_path);
  std::map<std::uint64_t, std::vector<const Write*>> covered;
  for (const Write& w : pending) {
    for (std::uint64_t s = w.offset / kSector; s < (w.offset + w.length) / kSector; ++s) covered[s].push_back(&w);
  }
  constexpr std::size_t kChunk = 1 << 20;
  Buffer got = Aligned(kChunk), want = Aligned(kChunk), alt = Aligned(64 * kSector);
  int mismatches = 0;
  std::uint64_t pending_new = 0, pending_old = 0;
  for (std::uint64_t off = 0; off < size; off += kChunk) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - off));
    if (!PreadAll(disk, got.get(), n, off)) Die("read " + disk_path);
    if (!PreadAll(model, want.get(), n, off)) Die("read " + model_path);
    for (std::size_t i = 0; i < n; i += kSector) {
      const std::uint64_t s = (off + i) / kSector;
      const bool same = std::memcmp(got.get() + i, want.get() + i, kSector) == 0;
      const auto c = covered.find(s);
      if (c == covered.end()) {
        if (!same && ++mismatches <= 5) {
          std::fprintf(stderr, "MISMATCH at offset %" PRIu64 ": a write covered by a completed fsync is lost\n",
                       off + i);
        }
        continue;
      }
      bool ok = same;
      if (same) ++pending_old;
      for (const Write* w : c->second) {
        if (ok) break;
        Fill(*w, alt.get());
        if (std::memcmp(got.get() + i, alt.get() + (off + i - w->offset), kSector) == 0) {
          ok = true;
          ++pending_new;
        }
      }
      if (!ok && ++mismatches <= 5) {
        std::fprintf(stderr, "MISMATCH at offset %" PRIu64 ": neither the old data nor an unsynced write's\n",
                     off + i);
      }
    }
  }
  if (mismatches) {
    std::fprintf(stderr, "%d sectors of 4 KiB wrong\n", mismatches);
    return 1;
  }
  // The pending sectors hold what they hold: the model follows.
  for (const auto& [s, writes] : covered) {
    if (!PreadAll(disk, got.get(), kSector, s * kSector)) Die("read " + disk_path);
    if (!PwriteAll(model, got.get(), kSector, s * kSector)) Die("write " + model_path);
  }
  std::printf("disk matches the model (%zu unsynced writes: %" PRIu64 " sectors old, %" PRIu64 " new)\n",
              pending.size(), pending_old, pending_new);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() >= 5 && a[0] == "run") {
    return Run(a[1], a[2], a[3], std::strtoull(a[4].c_str(), nullptr, 10),
               a.size() >= 6 ? std::strtol(a[5].c_str(), nullptr, 10) : -1);
  }
  if (a.size() == 4 && a[0] == "check") return Check(a[1], a[2], a[3]);
  std::fprintf(stderr,
               "usage: s3bd_crash_workload run DISK MODEL PENDING SEED [GROUPS]\n"
               "       s3bd_crash_workload check DISK MODEL PENDING\n");
  return 2;
}
