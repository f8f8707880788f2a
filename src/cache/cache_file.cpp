// The cache file: layout, recovery, the slot rules and the journal thread.
// The design and the state table are in the header.
#include "s3bd/cache/cache_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/core/stats.h"
#include "s3bd/core/geometry.h"
#include "s3bd/s3/crypto.h"

namespace s3bd {

namespace {

constexpr char kMagic[8] = {'S', '3', 'B', 'D', 'C', 'A', 'C', 'H'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kMaxVolume = 512;
constexpr std::uint64_t kMaxSlots = std::uint64_t{1} << 32;
constexpr std::uint32_t kStateFree = 0, kStateClean = 1, kStateDirty = 2;
constexpr std::uint32_t kFlagZero = 1, kFlagVersion = 2;

// Superblock fields.
constexpr std::size_t kOffVersion = 8, kOffEntrySize = 12, kOffFileId = 16, kOffBlockSize = 24, kOffSlots = 32,
                      kOffTable = 40, kOffData = 48, kOffVolumeLen = 56, kOffVolume = 60,
                      kOffHeaderCrc = kOffVolume + kMaxVolume;
// Entry fields.
constexpr std::size_t kEntState = 0, kEntFlags = 4, kEntBlock = 8, kEntSeq = 16, kEntMd5 = 24, kEntVersion = 40, kEntCrc = 60;

// The saved block map: its header's fields, and the bitmap's I/O unit.
constexpr char kMapMagic[8] = {'S', '3', 'B', 'D', 'B', 'M', 'A', 'P'};
constexpr std::uint32_t kMapFormatVersion = 1;
constexpr std::size_t kMapHeaderSize = 4096;
constexpr std::size_t kMapOffVersion = 8, kMapOffFileId = 16, kMapOffBlockSize = 24, kMapOffBlocks = 32,
                      kMapOffBytes = 40, kMapOffBitsCrc = 48, kMapOffStampLen = 52, kMapOffStamp = 56,
                      kMapOffVolumeLen = kMapOffStamp + CacheFile::kMaxMapStamp, kMapOffVolume = kMapOffVolumeLen + 4,
                      kMapOffCrc = kMapOffVolume + kMaxVolume;
static_assert(kMapOffCrc + 4 <= kMapHeaderSize);
constexpr std::size_t kMapChunk = std::size_t{1} << 20;  // bytes of bitmap per read or write

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

void Store32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void Store64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t Load32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t Load64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::uint32_t Crc(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  return static_cast<std::uint32_t>(::crc32(crc, p, static_cast<uInt>(n)));
}

// An entry's CRC also covers the file id and the slot index, so an entry
// copied elsewhere, or left from another file, is not valid.
std::uint32_t EntryCrc(std::uint64_t file_id, std::uint64_t slot, const std::uint8_t* entry) {
  std::uint8_t seed[16];
  Store64(seed, file_id);
  Store64(seed + 8, slot);
  return Crc(entry, kEntCrc, Crc(seed, sizeof seed));
}

BlockMd5 Md5Of(std::span<const std::uint8_t> data) {
  const auto d = s3::Md5(data);
  return d ? *d : BlockMd5{};
}

std::uint64_t AlignUp(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

std::string Errno() { return std::strerror(errno); }

std::uint64_t RandomU64() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    throw StartupError(fmt::format("getrandom: {}", Errno()));
  }
  return v;
}

struct Layout {
  std::uint64_t block_size = 0, slots = 0, data_offset = 0, file_id = 0;
  std::string volume;
  std::uint64_t size() const { return data_offset + slots * block_size; }
};

Layout MakeLayout(const CacheFileOptions& o) {
  Layout l;
  l.block_size = o.geometry.block_size;
  l.slots = o.slots;
  l.data_offset = AlignUp(CacheFile::kHeaderSize + o.slots * CacheFile::kEntrySize, 4096);
  l.volume = o.volume;
  return l;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Creates the file under a temporary name and links it into place, so the
// path never names a half-made file. `replace`: an existing file is
// replaced (its size changed); otherwise one that appeared meanwhile wins.
void CreateFile(const std::string& path, Layout l, bool replace) {
  const std::filesystem::path p(path);
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::string tmp = dir + "/." + p.filename().string() + ".new-XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) throw StartupError(fmt::format("cannot create cache file {}: {}", path, Errno()));
  bool linked = false;
  struct Cleanup {
    const std::string& tmp;
    bool& linked;
    ~Cleanup() {
      if (!linked) ::unlink(tmp.c_str());
    }
  } cleanup{tmp, linked};
  const auto fail = [&](const std::string& what) {
    return StartupError(fmt::format("cannot create cache file {}: {}: {}", path, what, Errno()));
  };
  if (::fchmod(fd.get(), 0600) != 0) throw fail("chmod");
  l.file_id = RandomU64();
  std::vector<std::uint8_t> h(CacheFile::kHeaderSize, 0);
  std::memcpy(h.data(), kMagic, sizeof kMagic);
  Store32(&h[kOffVersion], kFormatVersion);
  Store32(&h[kOffEntrySize], CacheFile::kEntrySize);
  Store64(&h[kOffFileId], l.file_id);
  Store64(&h[kOffBlockSize], l.block_size);
  Store64(&h[kOffSlots], l.slots);
  Store64(&h[kOffTable], CacheFile::kHeaderSize);
  Store64(&h[kOffData], l.data_offset);
  Store32(&h[kOffVolumeLen], static_cast<std::uint32_t>(l.volume.size()));
  std::memcpy(&h[kOffVolume], l.volume.data(), l.volume.size());
  Store32(&h[kOffHeaderCrc], Crc(h.data(), kOffHeaderCrc));
  // Reserve the whole file now, so that running out of space is a start-up
  // error and not a failed write later.
  if (int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(l.size())); err != 0) {
    if (err != EOPNOTSUPP && err != EINVAL) {
      errno = err;
      throw fail(fmt::format("reserving {}", FormatSize(l.size())));
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(l.size())) != 0) throw fail("truncate");
  }
  if (::pwrite(fd.get(), h.data(), h.size(), 0) != static_cast<ssize_t>(h.size())) throw fail("write");
  if (::fsync(fd.get()) != 0) throw fail("fsync");
  if (replace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw fail("rename");
  } else {
    if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) throw fail("link");
    ::unlink(tmp.c_str());
  }
  linked = true;
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0 || ::fsync(d.get()) != 0) throw fail("fsync of its directory");
}

// Reads and checks the superblock. Throws StartupError.
Layout ReadHeader(int fd, CacheFileIo& io, const std::string& path) {
  std::vector<std::uint8_t> h(CacheFile::kHeaderSize);
  const ssize_t n = io.Pread(fd, h.data(), h.size(), 0);
  if (n < 0) throw StartupError(fmt::format("cache file {}: read: {}", path, Errno()));
  if (static_cast<std::size_t>(n) < h.size() || std::memcmp(h.data(), kMagic, sizeof kMagic) != 0) {
    throw StartupError(fmt::format("{} is not an s3bd cache file", path));
  }
  const std::uint32_t version = Load32(&h[kOffVersion]);
  if (Crc(h.data(), kOffHeaderCrc) != Load32(&h[kOffHeaderCrc])) {
    throw StartupError(fmt::format("cache file {} is damaged (superblock checksum mismatch)", path));
  }
  if (version != kFormatVersion) {
    throw StartupError(
        fmt::format("cache file {} has format version {}; this s3bd reads version {}", path, version, kFormatVersion));
  }
  Layout l;
  l.file_id = Load64(&h[kOffFileId]);
  l.block_size = Load64(&h[kOffBlockSize]);
  l.slots = Load64(&h[kOffSlots]);
  l.data_offset = Load64(&h[kOffData]);
  const std::uint32_t volume_len = Load32(&h[kOffVolumeLen]);
  const bool sane = Load32(&h[kOffEntrySize]) == CacheFile::kEntrySize &&
                    Load64(&h[kOffTable]) == CacheFile::kHeaderSize && volume_len <= kMaxVolume &&
                    l.block_size >= 4096 && l.block_size <= (std::uint64_t{64} << 20) &&
                    (l.block_size & (l.block_size - 1)) == 0 && l.slots >= 1 && l.slots <= kMaxSlots &&
                    l.data_offset == AlignUp(CacheFile::kHeaderSize + l.slots * CacheFile::kEntrySize, 4096);
  if (!sane) throw StartupError(fmt::format("cache file {} is damaged (impossible layout)", path));
  l.volume.assign(reinterpret_cast<const char*>(&h[kOffVolume]), volume_len);
  // It is printed in one-line messages: nothing but printable ASCII.
  for (char& c : l.volume) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return l;
}

}  // namespace

ssize_t CacheFileIo::Pread(int fd, void* buf, std::size_t n, off_t offset) { return ::pread(fd, buf, n, offset); }
ssize_t CacheFileIo::Pwrite(int fd, const void* buf, std::size_t n, off_t offset) {
  return ::pwrite(fd, buf, n, offset);
}
int CacheFileIo::Datasync(int fd) { return ::fdatasync(fd); }

std::unique_ptr<CacheFile> CacheFile::Open(const CacheFileOptions& o) {
  if (o.volume.size() > kMaxVolume) throw StartupError("cache file: the volume's name is too long");
  if (o.slots == 0 || o.slots > kMaxSlots) throw StartupError("cache file: impossible number of slots");
  const std::shared_ptr<CacheFileIo> io = o.io ? o.io : std::make_shared<CacheFileIo>();
  const std::string& path = o.path;
  for (int attempt = 0;; ++attempt) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0 && errno == ENOENT && attempt < 3) {
      CreateFile(path, MakeLayout(o), /*replace=*/false);
      spdlog::info("created cache file {}: {} slots of {}", path, o.slots, FormatSize(o.geometry.block_size));
      continue;
    }
    if (fd.get() < 0) {
      if (errno == ELOOP) throw StartupError(fmt::format("cache file {} is a symbolic link", path));
      throw StartupError(fmt::format("cache file {}: {}", path, Errno()));
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw StartupError(fmt::format("cache file {}: {}", path, Errno()));
    if (!S_ISREG(st.st_mode)) throw StartupError(fmt::format("cache file {} is not a regular file", path));
    if (st.st_uid != ::geteuid()) throw StartupError(fmt::format("cache file {} belongs to another user", path));
    if (st.st_mode & 077) {
      throw StartupError(fmt::format("cache file {} is accessible by group or others (mode {:04o}): chmod 600 it",
                                     path, st.st_mode & 07777));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) throw StartupError(fmt::format("cache file {} is in use by another s3bd", path));
      throw StartupError(fmt::format("cache file {}: lock: {}", path, Errno()));
    }
    const Layout l = ReadHeader(fd.get(), *io, path);
    if (l.volume != o.volume) {
      throw StartupError(fmt::format("cache file {} belongs to another volume ({}), not to this one ({})", path,
                                     l.volume, o.volume));
    }
    if (l.block_size != o.geometry.block_size) {
      throw StartupError(fmt::format("cache file {} holds blocks of {}, but the volume's are {}", path,
                                     FormatSize(l.block_size), FormatSize(o.geometry.block_size)));
    }
    if (static_cast<std::uint64_t>(st.st_size) < l.size()) {
      throw StartupError(fmt::format("cache file {} is truncated ({} bytes, needs {})", path, st.st_size, l.size()));
    }
    std::unique_ptr<CacheFile> file(
        new CacheFile(fd.release(), path, io, o.geometry, l.slots, l.file_id, l.data_offset, o.volume));
    file->Recover();
    if (l.slots != o.slots) {
      if (file->recovered_dirty_ == 0 && attempt < 3) {
        spdlog::info("cache file {}: re-created for {} slots (it had {})", path, o.slots, l.slots);
        file.reset();
        CreateFile(path, MakeLayout(o), /*replace=*/true);
        continue;
      }
      spdlog::warn("cache file {} keeps its {} slots until its unsaved blocks are stored (wanted {})", path, l.slots,
                   o.slots);
    }
    file->OpenSavedMap();
    file->journal_ = std::thread([f = file.get()] { f->JournalLoop(); });
    return file;
  }
}

CacheFile::CacheFile(int fd, std::string path, std::shared_ptr<CacheFileIo> io, const Geometry& g,
                     std::uint64_t slots, std::uint64_t file_id, std::uint64_t data_offset, std::string volume)
    : fd_(fd),
      path_(std::move(path)),
      io_(std::move(io)),
      geometry_(g),
      map_blocks_(g.num_blocks),
      slot_count_(slots),
      file_id_(file_id),
      data_offset_(data_offset),
      zero_md5_(Md5Of(std::vector<std::uint8_t>(g.block_size, 0))),
      volume_(std::move(volume)),
      slots_(slots) {}

CacheFile::~CacheFile() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (journal_.joinable()) journal_.join();
  ::close(fd_);
}

std::error_code CacheFile::WriteAll(const void* buf, std::size_t n, off_t offset) {
  const auto* p = static_cast<const std::uint8_t*>(buf);
  while (n > 0) {
    const ssize_t w = io_->Pwrite(fd_, p, n, offset);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? LastError() : std::make_error_code(std::errc::io_error);
    p += w;
    n -= static_cast<std::size_t>(w);
    offset += w;
  }
  return {};
}

std::error_code CacheFile::ReadAll(void* buf, std::size_t n, off_t offset) {
  auto* p = static_cast<std::uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = io_->Pread(fd_, p, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r < 0 ? LastError() : std::make_error_code(std::errc::io_error);
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += r;
  }
  return {};
}

void CacheFile::EncodeEntry(std::uint64_t slot, std::uint32_t state, bool zero, BlockNum block, std::uint64_t seq,
                            const BlockMd5& md5, const ObjectVersion& version, std::uint8_t* out) const {
  std::memset(out, 0, kEntrySize);
  Store32(out + kEntState, state);
  Store32(out + kEntFlags, (zero ? kFlagZero : 0) | (version.known ? kFlagVersion : 0));
  Store64(out + kEntBlock, block);
  Store64(out + kEntSeq, seq);
  std::memcpy(out + kEntMd5, md5.data(), md5.size());
  if (version.known) std::memcpy(out + kEntVersion, version.tag.data(), version.tag.size());
  Store32(out + kEntCrc, EntryCrc(file_id_, slot, out));
}

void CacheFile::Recover() {
  struct Candidate {
    std::uint64_t slot, seq;
    bool dirty, zero;
    BlockMd5 md5;
    ObjectVersion version;
  };
  std::unordered_map<BlockNum, std::vector<Candidate>> candidates;
  std::uint64_t max_seq = 0;
  const auto fail = [&](const std::string& what, std::error_code ec) {
    return StartupError(fmt::format("cache file {}: {}: {}", path_, what, ec.message()));
  };

  // The table, a chunk at a time.
  constexpr std::uint64_t kChunk = 16384;  // entries
  std::vector<std::uint8_t> table;
  for (std::uint64_t first = 0; first < slot_count_; first += kChunk) {
    const std::uint64_t count = std::min(kChunk, slot_count_ - first);
    table.resize(count * kEntrySize);
    if (auto ec = ReadAll(table.data(), table.size(), EntryOffset(first))) throw fail("read", ec);
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint8_t* e = &table[i * kEntrySize];
      const std::uint64_t slot = first + i;
      const std::uint32_t state = Load32(e + kEntState), flags = Load32(e + kEntFlags);
      const std::uint64_t seq = Load64(e + kEntSeq);
      if (state != kStateClean && state != kStateDirty) continue;  // FREE, or garbage
      if (Load32(e + kEntCrc) != EntryCrc(file_id_, slot, e)) continue;  // torn or damaged
      if ((flags & ~(kFlagZero | kFlagVersion)) != 0 || seq == 0) continue;
      Candidate c{slot, seq, state == kStateDirty, (flags & kFlagZero) != 0, {}, {}};
      std::memcpy(c.md5.data(), e + kEntMd5, c.md5.size());
      if (flags & kFlagVersion) {
        c.version.known = true;
        std::memcpy(c.version.tag.data(), e + kEntVersion, c.version.tag.size());
      }
      candidates[Load64(e + kEntBlock)].push_back(c);
      max_seq = std::max(max_seq, seq);
    }
  }

  // Per block: the newest version whose data checks out (DIRTY data now,
  // CLEAN data when it is used). Every other DIRTY entry is stale.
  std::vector<std::uint64_t> stale;
  std::vector<std::uint8_t> buf(geometry_.block_size);
  for (auto& [block, list] : candidates) {
    std::sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) { return a.seq > b.seq; });
    const Candidate* chosen = nullptr;
    std::shared_ptr<std::vector<std::uint8_t>> data;
    for (const Candidate& c : list) {
      if (chosen != nullptr) {
        if (c.dirty) stale.push_back(c.slot);
        continue;
      }
      if (c.dirty && !c.zero) {
        if (auto ec = ReadAll(buf.data(), buf.size(), DataOffset(c.slot))) throw fail("read", ec);
        if (Md5Of(buf) != c.md5) {
          stale.push_back(c.slot);  // written, but its sync never completed
          continue;
        }
        data = std::make_shared<std::vector<std::uint8_t>>(buf);
      }
      chosen = &c;
    }
    if (chosen == nullptr) continue;
    if (block >= geometry_.num_blocks) {
      if (chosen->dirty) {
        throw StartupError(fmt::format(
            "cache file {} holds unsaved block {} past the end of the volume ({} blocks): mount with the size "
            "the volume had",
            path_, BlockName(block), geometry_.num_blocks));
      }
      continue;  // a stale CLEAN entry is harmless (R5); its slot is free
    }
    SlotInfo& s = slots_[chosen->slot];
    s.state = SlotInfo::kCurrent;
    s.disk_dirty = chosen->dirty;
    s.zero = chosen->zero;
    s.block = block;
    s.seq = chosen->seq;
    s.md5 = chosen->md5;
    s.version = chosen->version;
    blocks_[block].slot = static_cast<std::int64_t>(chosen->slot);
    Recovered r;
    r.block = block;
    r.seq = chosen->seq;
    r.dirty = chosen->dirty;
    r.zero = chosen->zero;
    r.md5 = chosen->md5;
    r.version = chosen->version;
    r.data = std::move(data);
    recovered_.push_back(std::move(r));
    ++(chosen->dirty ? recovered_dirty_ : recovered_clean_);
  }
  std::sort(recovered_.begin(), recovered_.end(), [](const Recovered& a, const Recovered& b) {
    return a.dirty != b.dirty ? a.dirty : a.seq < b.seq;
  });

  // Stale DIRTY entries must never come back: overwrite them, then make
  // everything recovered durable (after a kill -9 it may still be only in
  // the page cache) before any new version is written.
  for (std::uint64_t slot : stale) {
    std::uint8_t entry[kEntrySize];
    EncodeEntry(slot, kStateFree, false, 0, 0, BlockMd5{}, ObjectVersion{}, entry);
    if (auto ec = WriteAll(entry, kEntrySize, EntryOffset(slot))) throw fail("write", ec);
  }
  discarded_at_open_ = stale.size();
  if (io_->Datasync(fd_) != 0) throw fail("fdatasync", LastError());
  for (std::uint64_t slot = slot_count_; slot-- > 0;) {
    if (slots_[slot].state == SlotInfo::kFree) free_.push_back(slot);
  }
  next_seq_ = max_seq + 1;
  if (recovered_dirty_ > 0 || discarded_at_open_ > 0) {
    spdlog::info("cache file {}: {} unsaved blocks to upload, {} clean blocks to revalidate{}", path_,
                 recovered_dirty_, recovered_clean_,
                 discarded_at_open_ ? fmt::format(", {} stale entries discarded", discarded_at_open_) : "");
  }
}

std::vector<CacheFile::Recovered> CacheFile::TakeRecovered() {
  std::lock_guard lock(mu_);
  return std::exchange(recovered_, {});
}

void CacheFile::FreeSlot(std::uint64_t slot) {
  slots_[slot] = SlotInfo{};
  free_.push_back(slot);
}

void CacheFile::Fail(const char* what, std::error_code ec) {
  if (!failed_.exchange(true)) {
    spdlog::critical("cache file {}: {} failed: {}; from now on writes fail with EIO and fsync means uploaded: "
                     "unmount (which uploads everything), fix the cause and mount again",
                     path_, what, ec.message());
  }
  cv_.notify_all();
}

CacheFile::Reservation CacheFile::TryReserve(BlockNum block) {
  std::lock_guard lock(mu_);
  if (failed()) return {};
  if (auto it = blocks_.find(block); it != blocks_.end() && it->second.slot >= 0 && it->second.shadows == 0) {
    SlotInfo& s = slots_[it->second.slot];
    if (s.state == SlotInfo::kCurrent && !s.disk_dirty && s.busy == 0) {
      s.state = SlotInfo::kReserved;
      s.own_reserved = true;
      return Reservation{it->second.slot, true};
    }
  }
  if (free_.empty()) return {};
  const std::uint64_t slot = free_.back();
  free_.pop_back();
  slots_[slot].state = SlotInfo::kReserved;
  return Reservation{static_cast<std::int64_t>(slot), false};
}

void CacheFile::Unreserve(const Reservation& r) {
  if (!r) return;
  std::lock_guard lock(mu_);
  SlotInfo& s = slots_[static_cast<std::uint64_t>(r.slot)];
  if (s.state != SlotInfo::kReserved) return;
  if (r.own) {
    s.state = SlotInfo::kCurrent;
    s.own_reserved = false;
  } else {
    FreeSlot(static_cast<std::uint64_t>(r.slot));
  }
}

std::error_code CacheFile::Put(const Reservation& r, BlockNum block, std::span<const std::uint8_t> data, bool zero,
                               bool dirty, const ObjectVersion& stored, Version* out) {
  const auto slot = static_cast<std::uint64_t>(r.slot);
  std::uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = next_seq_++;
  }
  if (failed()) {
    Unreserve(r);
    return std::make_error_code(std::errc::io_error);
  }
  const BlockMd5 md5 = zero ? zero_md5_ : Md5Of(data);
  std::uint8_t entry[kEntrySize];
  const ObjectVersion version = dirty ? ObjectVersion{} : stored;
  EncodeEntry(slot, dirty ? kStateDirty : kStateClean, zero, block, seq, md5, version, entry);
  // Data first, then the entry; one later sync covers both, and until then
  // the MD5 tells a torn pair from a whole one.
  std::error_code ec;
  if (!zero) ec = WriteAll(data.data(), geometry_.block_size, DataOffset(slot));
  if (!ec) ec = WriteAll(entry, kEntrySize, EntryOffset(slot));
  bool freed = false;
  {
    std::lock_guard lock(mu_);
    BlockInfo& b = blocks_[block];
    if (ec) {
      Fail("write", ec);
      slots_[slot].state = SlotInfo::kLost;
      if (b.slot == r.slot) b.slot = -1;
      return std::make_error_code(std::errc::io_error);
    }
    ++puts_;
    const Pos pos = ++written_;
    if (b.slot >= 0 && b.slot != r.slot) {
      const auto old = static_cast<std::uint64_t>(b.slot);
      if (slots_[old].disk_dirty) {
        slots_[old].state = SlotInfo::kShadow;  // R2: freed once this version is durable
        ++b.shadows;
        pending_free_.push_back({old, pos});
        cv_.notify_all();
      } else {
        FreeSlot(old);  // R5
        freed = true;
      }
    }
    SlotInfo& s = slots_[slot];
    s = SlotInfo{};
    s.state = SlotInfo::kCurrent;
    s.disk_dirty = dirty;
    s.zero = zero;
    s.block = block;
    s.seq = seq;
    s.md5 = md5;
    s.version = version;
    b.slot = r.slot;
    *out = Version{seq, pos};
  }
  if (freed && slots_freed_) slots_freed_();
  return {};
}

std::error_code CacheFile::MarkClean(BlockNum block, std::uint64_t seq, const ObjectVersion& stored) {
  std::unique_lock lock(mu_);
  std::uint64_t slot;
  for (;;) {
    if (failed()) return std::make_error_code(std::errc::io_error);
    const auto it = blocks_.find(block);
    if (it == blocks_.end() || it->second.slot < 0) return {};
    const SlotInfo& s = slots_[static_cast<std::uint64_t>(it->second.slot)];
    if (s.state != SlotInfo::kCurrent || s.seq != seq || !s.disk_dirty) return {};
    if (it->second.shadows == 0) {
      slot = static_cast<std::uint64_t>(it->second.slot);
      break;
    }
    // R3: wait until the FREE entries over the block's older DIRTY versions
    // are durable (the journal thread is on it).
    wanted_ = std::max(wanted_, written_);
    cv_.notify_all();
    cv_.wait(lock);
  }
  SlotInfo& s = slots_[slot];
  ++s.busy;
  std::uint8_t entry[kEntrySize];
  s.version = stored;
  EncodeEntry(slot, kStateClean, s.zero, block, seq, s.md5, stored, entry);
  lock.unlock();
  const std::error_code ec = WriteAll(entry, kEntrySize, EntryOffset(slot));
  lock.lock();
  --s.busy;
  cv_.notify_all();
  if (ec) {
    Fail("write", ec);
    return std::make_error_code(std::errc::io_error);
  }
  ++marks_;
  ++written_;
  if (s.state == SlotInfo::kCurrent && s.seq == seq) s.disk_dirty = false;
  return {};
}

void CacheFile::Drop(BlockNum block) {
  std::lock_guard lock(mu_);
  const auto it = blocks_.find(block);
  if (it == blocks_.end() || it->second.slot < 0) return;
  const auto slot = static_cast<std::uint64_t>(it->second.slot);
  SlotInfo& s = slots_[slot];
  if (s.state == SlotInfo::kCurrent) {
    if (s.disk_dirty && !failed()) {
      // Not expected (the cache drops only CLEAN blocks); stay safe: keep the
      // entry until what is written now is durable, like a shadow.
      spdlog::warn("cache file {}: block {} dropped while dirty", path_, BlockName(block));
      s.state = SlotInfo::kShadow;
      ++it->second.shadows;
      pending_free_.push_back({slot, written_});
      cv_.notify_all();
    } else {
      FreeSlot(slot);
    }
  }
  it->second.slot = -1;
  if (it->second.shadows == 0) blocks_.erase(it);
}

std::error_code CacheFile::ReadData(BlockNum block, std::uint64_t seq, std::span<std::uint8_t> out) {
  std::uint64_t slot;
  BlockMd5 md5;
  bool zero;
  {
    std::lock_guard lock(mu_);
    const auto it = blocks_.find(block);
    if (it == blocks_.end() || it->second.slot < 0) return make_error_code(Errc::kCorruptBlock);
    slot = static_cast<std::uint64_t>(it->second.slot);
    const SlotInfo& s = slots_[slot];
    if (s.state != SlotInfo::kCurrent || s.seq != seq) return make_error_code(Errc::kCorruptBlock);
    md5 = s.md5;
    zero = s.zero;
  }
  if (zero) {
    std::memset(out.data(), 0, out.size());
  } else if (auto ec = ReadAll(out.data(), out.size(), DataOffset(slot))) {
    spdlog::warn("cache file {}: read of block {}: {}", path_, BlockName(block), ec.message());
    return ec;
  }
  if (Md5Of(out) != md5) return make_error_code(Errc::kCorruptBlock);
  return {};
}

bool CacheFile::IsCurrent(BlockNum block, std::uint64_t seq) const {
  std::lock_guard lock(mu_);
  const auto it = blocks_.find(block);
  if (it == blocks_.end() || it->second.slot < 0) return false;
  const SlotInfo& s = slots_[static_cast<std::uint64_t>(it->second.slot)];
  return s.state == SlotInfo::kCurrent && s.seq == seq;
}

CacheFile::Pos CacheFile::Written() const {
  std::lock_guard lock(mu_);
  return written_;
}

std::error_code CacheFile::WaitDurable(Pos pos) {
  std::unique_lock lock(mu_);
  if (pos > durable_ && !failed()) {
    wanted_ = std::max(wanted_, pos);
    cv_.notify_all();
    cv_.wait(lock, [&] { return durable_ >= pos || failed(); });
  }
  return durable_ >= pos ? std::error_code() : std::make_error_code(std::errc::io_error);
}

void CacheFile::SetSlotsFreedCallback(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  slots_freed_ = std::move(fn);
}

void CacheFile::JournalLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (failed()) {
      cv_.wait(lock);
      continue;
    }
    // R2: shadows whose successor is durable get a FREE entry and are free.
    std::vector<std::uint64_t> batch;
    for (auto it = pending_free_.begin(); it != pending_free_.end();) {
      if (it->after <= durable_ && slots_[it->slot].busy == 0) {
        batch.push_back(it->slot);
        it = pending_free_.erase(it);
      } else {
        ++it;
      }
    }
    if (!batch.empty()) {
      lock.unlock();
      std::error_code ec;
      for (std::uint64_t slot : batch) {
        std::uint8_t entry[kEntrySize];
        EncodeEntry(slot, kStateFree, false, 0, 0, BlockMd5{}, ObjectVersion{}, entry);
        if ((ec = WriteAll(entry, kEntrySize, EntryOffset(slot)))) break;
      }
      lock.lock();
      if (ec) {
        for (std::uint64_t slot : batch) slots_[slot].state = SlotInfo::kLost;
        Fail("write", ec);
        continue;
      }
      for (std::uint64_t slot : batch) {
        freeing_.push_back({slots_[slot].block, ++written_});
        FreeSlot(slot);
        ++freed_shadows_;
      }
      const auto callback = slots_freed_;
      lock.unlock();
      if (callback) callback();
      lock.lock();
      continue;
    }
    // A sync when someone waits for one, or shadows are in the works.
    const bool wanted = wanted_ > durable_ || !pending_free_.empty() || !freeing_.empty();
    if (wanted && written_ > durable_) {
      const Pos target = written_;
      lock.unlock();
      const int rc = io_->Datasync(fd_);
      const std::error_code ec = rc == 0 ? std::error_code() : LastError();
      lock.lock();
      ++syncs_;
      if (ec) {
        Fail("fdatasync", ec);
        continue;
      }
      durable_ = target;
      // R3: a shadow whose FREE entry is durable is gone.
      std::erase_if(freeing_, [&](const Freeing& f) {
        if (f.pos > durable_) return false;
        const auto b = blocks_.find(f.block);
        if (b != blocks_.end() && --b->second.shadows == 0 && b->second.slot < 0) blocks_.erase(b);
        return true;
      });
      cv_.notify_all();
      continue;
    }
    cv_.wait(lock);
  }
}

void CacheFile::Discard() {
  struct stat by_fd, by_path;
  if (::fstat(fd_, &by_fd) == 0 && ::stat(path_.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
      by_fd.st_dev == by_path.st_dev) {
    if (::unlink(path_.c_str()) == 0) spdlog::warn("cache file {} removed: everything in it is stored", path_);
  }
}

void CacheFile::OpenSavedMap() {
  std::lock_guard lock(map_mu_);
  const auto unused = [&](const std::string& why) {
    spdlog::warn("cache file {}: its saved block map is not used: {}", path_, why);
  };
  // Up to a header's worth: the file may end before (no region at all: a
  // file made before saved maps, or never saved in) or inside it.
  std::vector<std::uint8_t> h(kMapHeaderSize, 0);
  std::size_t got = 0;
  while (got < h.size()) {
    const ssize_t r = io_->Pread(fd_, h.data() + got, h.size() - got, MapOffset() + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      map_on_disk_ = true;
      return unused("read: " + Errno());
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  if (std::all_of(h.begin(), h.end(), [](std::uint8_t b) { return b == 0; })) return;  // none, or forgotten
  map_on_disk_ = true;
  if (got < h.size()) return unused("truncated");
  if (std::memcmp(h.data(), kMapMagic, sizeof kMapMagic) != 0) return unused("damaged (no map header)");
  if (Crc(h.data(), kMapOffCrc) != Load32(&h[kMapOffCrc])) return unused("damaged (header checksum mismatch)");
  if (const std::uint32_t v = Load32(&h[kMapOffVersion]); v != kMapFormatVersion) {
    return unused(fmt::format("format version {}; this s3bd reads version {}", v, kMapFormatVersion));
  }
  const std::uint64_t blocks = Load64(&h[kMapOffBlocks]), bytes = Load64(&h[kMapOffBytes]);
  const std::uint32_t stamp_len = Load32(&h[kMapOffStampLen]), volume_len = Load32(&h[kMapOffVolumeLen]);
  if (stamp_len == 0 || stamp_len > kMaxMapStamp || volume_len > kMaxVolume) return unused("damaged (bad lengths)");
  const std::string stamp(reinterpret_cast<const char*>(&h[kMapOffStamp]), stamp_len);
  const std::string volume(reinterpret_cast<const char*>(&h[kMapOffVolume]), volume_len);
  if (!Printable(stamp)) return unused("damaged (bad stamp)");
  if (Load64(&h[kMapOffFileId]) != file_id_) return unused("it was made for another cache file");
  if (volume != volume_) return unused("it belongs to another volume");
  if (Load64(&h[kMapOffBlockSize]) != geometry_.block_size || blocks != geometry_.num_blocks) {
    return unused(fmt::format("it is for {} blocks of {}, the volume has {} blocks of {}", blocks,
                              FormatSize(Load64(&h[kMapOffBlockSize])), geometry_.num_blocks,
                              FormatSize(geometry_.block_size)));
  }
  if (blocks == 0 || bytes != (blocks + 7) / 8) return unused("damaged (impossible bitmap length)");
  std::uint8_t last = 0;
  if (io_->Pread(fd_, &last, 1, MapOffset() + static_cast<off_t>(kMapHeaderSize + bytes - 1)) != 1) {
    return unused("truncated");
  }
  map_stamp_ = stamp;
  map_crc_ = Load32(&h[kMapOffBitsCrc]);
}

std::string CacheFile::saved_map_stamp() const {
  std::lock_guard lock(map_mu_);
  return map_stamp_;
}

std::error_code CacheFile::ReadSavedMap(const std::function<void(BlockNum)>& fn, std::string* why) {
  std::lock_guard lock(map_mu_);
  if (map_stamp_.empty()) {
    *why = "the cache file holds no saved block map";
    return std::make_error_code(std::errc::no_such_file_or_directory);
  }
  const std::uint64_t n = geometry_.num_blocks, bytes = (n + 7) / 8;
  const off_t base = MapOffset() + static_cast<off_t>(kMapHeaderSize);
  std::vector<std::uint8_t> chunk;
  std::uint32_t crc = 0;
  for (std::uint64_t first = 0; first < bytes; first += kMapChunk) {
    chunk.resize(std::min<std::uint64_t>(kMapChunk, bytes - first));
    if (auto ec = ReadAll(chunk.data(), chunk.size(), base + static_cast<off_t>(first))) {
      *why = "read: " + ec.message();
      return ec;
    }
    crc = Crc(chunk.data(), chunk.size(), crc);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      for (unsigned bit = 0; chunk[i] >> bit; ++bit) {
        if (!((chunk[i] >> bit) & 1)) continue;
        const BlockNum b = (first + i) * 8 + bit;
        if (b >= n) {
          *why = "damaged (a block past the end of the volume)";
          return make_error_code(Errc::kBadMetadata);
        }
        fn(b);
      }
    }
  }
  if (crc != map_crc_) {
    *why = "damaged (checksum mismatch)";
    return make_error_code(Errc::kBadMetadata);
  }
  return {};
}

std::error_code CacheFile::ForgetSavedMap() {
  std::lock_guard lock(map_mu_);
  map_stamp_.clear();
  if (!map_on_disk_) return {};
  const std::vector<std::uint8_t> zeros(kMapHeaderSize, 0);
  if (auto ec = WriteAll(zeros.data(), zeros.size(), MapOffset())) return ec;
  if (io_->Datasync(fd_) != 0) return LastError();
  map_on_disk_ = false;
  return {};
}

std::error_code CacheFile::SaveMap(const std::string& stamp, const BlockLister& list) {
  if (stamp.empty() || stamp.size() > kMaxMapStamp || !Printable(stamp)) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::lock_guard lock(map_mu_);
  if (failed()) return std::make_error_code(std::errc::io_error);
  map_stamp_.clear();
  const std::uint64_t n = map_blocks_.load(std::memory_order_acquire), bytes = (n + 7) / 8;
  const off_t base = MapOffset() + static_cast<off_t>(kMapHeaderSize);
  // Whatever header is there goes first (a map saved before must not be
  // read over a half-written bitmap; its CRC would refuse it anyway).
  std::vector<std::uint8_t> h(kMapHeaderSize, 0);
  if (auto ec = WriteAll(h.data(), h.size(), MapOffset())) return ec;
  map_on_disk_ = true;
  std::vector<std::uint8_t> chunk(static_cast<std::size_t>(std::min<std::uint64_t>(kMapChunk, bytes)), 0);
  std::uint64_t at = 0;  // the first byte of `chunk`
  std::uint32_t crc = 0;
  std::error_code ec;
  const auto emit = [&] {  // writes `chunk` and moves on to the next
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), bytes - at));
    if (!ec) ec = WriteAll(chunk.data(), len, base + static_cast<off_t>(at));
    crc = Crc(chunk.data(), len, crc);
    std::fill(chunk.begin(), chunk.end(), 0);
    at += len;
  };
  bool ordered = true, any = false;
  BlockNum last = 0;
  list([&](BlockNum b) {
    if (!ordered || ec) return;
    if (b >= n || (any && b <= last)) {
      ordered = false;
      return;
    }
    any = true;
    last = b;
    while (b / 8 >= at + chunk.size()) emit();
    chunk[b / 8 - at] |= static_cast<std::uint8_t>(1u << (b % 8));
  });
  if (!ordered) return std::make_error_code(std::errc::invalid_argument);
  while (!ec && at < bytes) emit();
  if (ec) return ec;
  std::memcpy(h.data(), kMapMagic, sizeof kMapMagic);
  Store32(&h[kMapOffVersion], kMapFormatVersion);
  Store64(&h[kMapOffFileId], file_id_);
  Store64(&h[kMapOffBlockSize], geometry_.block_size);
  Store64(&h[kMapOffBlocks], n);
  Store64(&h[kMapOffBytes], bytes);
  Store32(&h[kMapOffBitsCrc], crc);
  Store32(&h[kMapOffStampLen], static_cast<std::uint32_t>(stamp.size()));
  std::memcpy(&h[kMapOffStamp], stamp.data(), stamp.size());
  Store32(&h[kMapOffVolumeLen], static_cast<std::uint32_t>(volume_.size()));
  std::memcpy(&h[kMapOffVolume], volume_.data(), volume_.size());
  Store32(&h[kMapOffCrc], Crc(h.data(), kMapOffCrc));
  if ((ec = WriteAll(h.data(), h.size(), MapOffset()))) return ec;
  if (io_->Datasync(fd_) != 0) return LastError();
  map_stamp_ = stamp;
  map_crc_ = crc;
  return {};
}

void CacheFile::FillStats(StatsJson& j) const {
  std::lock_guard lock(mu_);
  std::uint64_t shadows = 0;
  for (const SlotInfo& s : slots_) shadows += s.state == SlotInfo::kShadow;
  j["path"] = path_;
  j["slots"] = slot_count_;
  j["free_slots"] = free_.size();
  j["shadows"] = shadows;
  j["failed"] = failed();
  j["journal_blocks_written"] = puts_;
  j["journal_marked_clean"] = marks_;
  j["journal_syncs"] = syncs_;
  j["shadows_freed"] = freed_shadows_;
  j["recovered_unsaved"] = recovered_dirty_;
  j["recovered_clean"] = recovered_clean_;
  j["stale_entries_discarded"] = discarded_at_open_;
  MarkGauges(j, {"slots", "free_slots", "shadows"});
}

void CacheFile::PrintStats(std::ostream& os) const {
  StatsJson j;
  FillStats(j);
  StatsJson layer;
  layer["layer"] = "cache file";
  layer["cache_file"] = std::move(j);
  std::ostringstream text;
  RenderLayerText(text, layer);
  // Only the cache file's own lines, without the section header.
  const std::string s = text.str();
  os << s.substr(s.find('\n') + 1);
}

}  // namespace s3bd
