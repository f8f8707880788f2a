// The cache file (cache_file.h): start-up checks, recovery of the newest
// valid version, torn entries and data, shadows and slot reuse, I/O errors,
// a power-loss model test (random operations, crashes that keep a random
// subset of the unsynced sectors, and the invariant that nothing a sync or
// an upload covered is ever lost or overwritten by older data), and random
// corruption of the file that must never crash it.
#include "s3bd/cache/cache_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <zlib.h>

#include "fake_disk.h"
#include "log_capture.h"
#include "s3bd/core/errors.h"
#include "s3bd/s3/crypto.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 64};
constexpr std::size_t kBs = 4096;

using Bytes = std::vector<std::uint8_t>;

CacheFileOptions Options(const std::string& path, std::uint64_t slots = 8,
                         std::shared_ptr<CacheFileIo> io = nullptr) {
  CacheFileOptions o;
  o.path = path;
  o.volume = "volume 0123456789abcdef0123456789abcdef";
  o.geometry = kGeom;
  o.slots = slots;
  o.io = std::move(io);
  return o;
}

Bytes Block(std::uint64_t seed) { return test::RandomBytes(kBs, seed); }

// Writes one version into a free slot (the test keeps enough slots free).
CacheFile::Version Put(CacheFile& f, BlockNum b, const Bytes& data, bool dirty,
                       const ObjectVersion& stored = {}) {
  CacheFile::Reservation r = f.TryReserve(b);
  EXPECT_TRUE(r) << "no free slot for block " << b;
  CacheFile::Version v;
  EXPECT_FALSE(f.Put(r, b, data, false, dirty, stored, &v));
  return v;
}

ObjectVersion TestVersion(std::uint8_t n) {
  ObjectVersion v;
  v.known = true;
  v.tag.fill(n);
  return v;
}

std::map<BlockNum, CacheFile::Recovered> ByBlock(std::vector<CacheFile::Recovered> list) {
  std::map<BlockNum, CacheFile::Recovered> m;
  for (auto& r : list) m[r.block] = std::move(r);
  return m;
}

std::string StartupMessage(const CacheFileOptions& o) {
  try {
    CacheFile::Open(o);
  } catch (const StartupError& e) {
    return e.what();
  }
  return "";
}

TEST(CacheFile, PrivateFileSurvivesRestart) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  const mode_t old_umask = ::umask(0);
  {
    auto f = CacheFile::Open(Options(path));
    ::umask(old_umask);
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_TRUE(f->TakeRecovered().empty());
    const auto v = Put(*f, 3, Block(3), /*dirty=*/true);
    Put(*f, 4, Block(4), /*dirty=*/false);
    CacheFile::Version z;
    ASSERT_FALSE(f->Put(f->TryReserve(5), 5, {}, /*zero=*/true, /*dirty=*/true, ObjectVersion{}, &z));
    ASSERT_FALSE(f->WaitDurable(f->Written()));
    EXPECT_GE(f->Written(), v.pos);
  }
  auto f = CacheFile::Open(Options(path));
  auto rec = f->TakeRecovered();
  ASSERT_EQ(rec.size(), 3u);
  // Dirty ones first, oldest first.
  EXPECT_EQ(rec[0].block, 3u);
  EXPECT_TRUE(rec[0].dirty);
  ASSERT_TRUE(rec[0].data);
  EXPECT_EQ(*rec[0].data, Block(3));
  EXPECT_EQ(rec[1].block, 5u);
  EXPECT_TRUE(rec[1].dirty && rec[1].zero);
  EXPECT_EQ(rec[2].block, 4u);
  EXPECT_FALSE(rec[2].dirty);
  EXPECT_FALSE(rec[2].data);  // clean data is read when used
  Bytes out(kBs);
  ASSERT_FALSE(f->ReadData(4, rec[2].seq, out));
  EXPECT_EQ(out, Block(4));
  EXPECT_EQ(f->ReadData(4, rec[2].seq + 100, out), make_error_code(Errc::kCorruptBlock));
}

TEST(CacheFile, RefusesForeignOrUnsafeFiles) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  { CacheFile::Open(Options(path)); }

  CacheFileOptions other = Options(path);
  other.volume = "volume ffffffffffffffffffffffffffffffff";
  EXPECT_NE(StartupMessage(other).find("belongs to another volume"), std::string::npos) << StartupMessage(other);
  other = Options(path);
  other.geometry.block_size = 8192;
  EXPECT_NE(StartupMessage(other).find("holds blocks of 4 KiB"), std::string::npos) << StartupMessage(other);

  {
    auto held = CacheFile::Open(Options(path));
    EXPECT_NE(StartupMessage(Options(path)).find("in use by another s3bd"), std::string::npos);
  }

  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_NE(StartupMessage(Options(path)).find("accessible by group or others (mode 0640)"), std::string::npos)
      << StartupMessage(Options(path));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);

  const std::string link = dir.path() + "/link";
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_NE(StartupMessage(Options(link)).find("symbolic link"), std::string::npos);

  const std::string junk = dir.path() + "/junk";
  test::WriteImage(junk, std::string(10000, 'x'));
  ASSERT_EQ(::chmod(junk.c_str(), 0600), 0);
  EXPECT_NE(StartupMessage(Options(junk)).find("is not an s3bd cache file"), std::string::npos);

  EXPECT_NE(StartupMessage(Options(dir.path() + "/missing/cache")).find("cannot create cache file"),
            std::string::npos);

  // An unsaved block past the end of a shrunk volume.
  {
    auto f = CacheFile::Open(Options(path));
    Put(*f, 60, Block(60), /*dirty=*/true);
    ASSERT_FALSE(f->WaitDurable(f->Written()));
  }
  CacheFileOptions shrunk = Options(path);
  shrunk.geometry.num_blocks = 32;
  EXPECT_NE(StartupMessage(shrunk).find("unsaved block 0000003c past the end"), std::string::npos)
      << StartupMessage(shrunk);
}

TEST(CacheFile, ResizedOnlyWhenNothingIsUnsaved) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  {
    auto f = CacheFile::Open(Options(path, 8));
    Put(*f, 1, Block(1), /*dirty=*/true);
    ASSERT_FALSE(f->WaitDurable(f->Written()));
  }
  {
    auto f = CacheFile::Open(Options(path, 16));
    EXPECT_EQ(f->slots(), 8u);  // kept: it holds an unsaved block
    auto rec = f->TakeRecovered();
    ASSERT_EQ(rec.size(), 1u);
    ASSERT_FALSE(f->MarkClean(1, rec[0].seq, ObjectVersion{}));
  }
  auto f = CacheFile::Open(Options(path, 16));
  EXPECT_EQ(f->slots(), 16u);
  EXPECT_TRUE(f->TakeRecovered().empty());  // the clean block went with the old file
}

// A version whose data did not reach the disk gives way to the one before.
TEST(CacheFile, NewestValidVersionWins) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  { CacheFile::Open(Options(path)); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  std::uint64_t seq1, seq2;
  {
    auto f = CacheFile::Open(Options(path, 8, disk));
    seq1 = Put(*f, 7, Block(1), true).seq;
    ASSERT_FALSE(f->WaitDurable(f->Written()));
    disk->AllowSyncs(0);  // version 2 never becomes durable
    seq2 = Put(*f, 7, Block(2), true).seq;
    disk->Freeze();
  }
  // Every outcome keeps version 1 or version 2, whole.
  std::mt19937_64 rng(1);
  int saw1 = 0, saw2 = 0;
  for (int i = 0; i < 100; ++i) {
    // The first outcome is a kill -9 (everything written survives).
    test::WriteImage(path, i == 0 ? disk->Image() : disk->Crash(rng));
    auto f = CacheFile::Open(Options(path));
    auto rec = ByBlock(f->TakeRecovered());
    ASSERT_EQ(rec.count(7), 1u);
    const auto& r = rec[7];
    ASSERT_TRUE(r.dirty && r.data);
    if (r.seq == seq1) {
      EXPECT_EQ(*r.data, Block(1));
      ++saw1;
    } else {
      ASSERT_EQ(r.seq, seq2);
      EXPECT_EQ(*r.data, Block(2));
      ++saw2;
    }
  }
  EXPECT_GT(saw1, 0);
  EXPECT_GT(saw2, 0);
}

TEST(CacheFile, TornEntryIsIgnored) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  { CacheFile::Open(Options(path)); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  std::uint64_t seq1, seq2;
  {
    auto f = CacheFile::Open(Options(path, 8, disk));
    seq1 = Put(*f, 9, Block(1), true).seq;
    ASSERT_FALSE(f->WaitDurable(f->Written()));
    disk->AllowSyncs(0);  // version 1 keeps its slot: version 2 never becomes durable
    seq2 = Put(*f, 9, Block(2), true).seq;
    disk->Freeze();
  }
  // Tear the entry of version 2 (the one with its sequence number).
  std::string image = disk->Image();
  std::size_t at = 0;
  for (std::size_t slot = 0; slot < 8; ++slot) {
    const std::size_t off = CacheFile::kHeaderSize + slot * CacheFile::kEntrySize;
    std::uint64_t seq = 0;
    std::memcpy(&seq, image.data() + off + 16, 8);
    if (image[off] == 2 && seq == seq2) at = off;
  }
  ASSERT_NE(at, 0u);
  image[at + 30] ^= 0x40;  // inside the MD5: the CRC no longer matches
  test::WriteImage(path, image);
  auto f = CacheFile::Open(Options(path));
  auto rec = ByBlock(f->TakeRecovered());
  ASSERT_EQ(rec.count(9), 1u);
  EXPECT_EQ(rec[9].seq, seq1);
  EXPECT_EQ(*rec[9].data, Block(1));
}

// A rewritten dirty block keeps its older slot (a shadow) until the new
// version is durable; the shadow then becomes free, and only after that may
// the new version be marked clean or its slot be reused.
TEST(CacheFile, ShadowsAreFreedAfterTheirSuccessorIsDurable) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  auto f = CacheFile::Open(Options(path, 2));
  std::mutex mu;
  std::condition_variable cv;
  int freed = 0;
  f->SetSlotsFreedCallback([&] {
    std::lock_guard lock(mu);
    ++freed;
    cv.notify_all();
  });
  Put(*f, 1, Block(1), true);
  const auto v2 = Put(*f, 1, Block(2), true);  // the first slot is now a shadow
  EXPECT_FALSE(f->TryReserve(2));              // no slot: one shadow, one dirty
  EXPECT_FALSE(f->TryReserve(1));              // not even its own: it is dirty
  ASSERT_FALSE(f->WaitDurable(v2.pos));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return freed > 0; }));
  }
  CacheFile::Reservation r = f->TryReserve(2);
  ASSERT_TRUE(r);
  f->Unreserve(r);
  ASSERT_FALSE(f->MarkClean(1, v2.seq, ObjectVersion{}));
  // Clean, without shadows: block 1 may now be rewritten in place.
  r = f->TryReserve(1);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r.own);
  CacheFile::Version v3;
  ASSERT_FALSE(f->Put(r, 1, Block(3), false, true, ObjectVersion{}, &v3));
  std::ostringstream stats;
  f->PrintStats(stats);
  EXPECT_NE(stats.str().find("1 shadows freed"), std::string::npos) << stats.str();
}

// R3: a block is marked clean only once the FREE entry over its older
// dirty version is durable; until then a torn rewrite could revive it.
TEST(CacheFile, MarkCleanWaitsUntilShadowsAreDurablyFree) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  { CacheFile::Open(Options(path, 4)); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  auto f = CacheFile::Open(Options(path, 4, disk));
  Put(*f, 1, Block(1), true);
  ASSERT_FALSE(f->WaitDurable(f->Written()));
  const int calls = disk->sync_calls();
  disk->AllowSyncs(0);
  const auto v2 = Put(*f, 1, Block(2), true);  // version 1 becomes a shadow
  auto durable = std::async(std::launch::async, [&] { return f->WaitDurable(v2.pos); });
  disk->WaitForSyncCalls(calls + 1);
  disk->AllowSyncs(1);  // version 2 becomes durable...
  EXPECT_FALSE(durable.get());
  disk->WaitForSyncCalls(calls + 2);  // ...the FREE entry is written, its sync held
  auto mark = std::async(std::launch::async, [&] { return f->MarkClean(1, v2.seq, ObjectVersion{}); });
  EXPECT_EQ(mark.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  disk->AllowSyncs(-1);
  EXPECT_FALSE(mark.get());
}

TEST(CacheFile, IoErrorFailsTheFileForGood) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  { CacheFile::Open(Options(path)); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  auto f = CacheFile::Open(Options(path, 8, disk));
  Put(*f, 1, Block(1), true);
  disk->FailWritesAfter(0);
  CacheFile::Reservation r = f->TryReserve(2);
  ASSERT_TRUE(r);
  CacheFile::Version v;
  EXPECT_EQ(f->Put(r, 2, Block(2), false, true, ObjectVersion{}, &v), std::errc::io_error);
  EXPECT_TRUE(f->failed());
  EXPECT_FALSE(f->TryReserve(3));
  EXPECT_EQ(f->WaitDurable(f->Written()), std::errc::io_error);
  f->Drop(1);  // allowed once failed
}

TEST(CacheFile, FailedSyncFailsTheFile) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  { CacheFile::Open(Options(path)); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  auto f = CacheFile::Open(Options(path, 8, disk));
  const auto v = Put(*f, 1, Block(1), true);
  disk->FailSyncs();
  EXPECT_EQ(f->WaitDurable(v.pos), std::errc::io_error);
  EXPECT_TRUE(f->failed());
}

// The power-loss model. The test plays the block cache: it writes dirty and
// clean versions, syncs, "uploads" (a durable version to a model store,
// then MarkClean), drops clean blocks and makes room when slots run out, as
// the rules require. At random moments the machine loses power: the file
// keeps a random subset of its unsynced sectors. After each restart, every
// block's content (its recovered DIRTY version, else the store's) must be a
// version at least as new as the last one a sync or an upload covered.
class CrashModel {
 public:
  CrashModel(std::string path, std::uint64_t seed) : path_(std::move(path)), rng_(seed) {}

  void Run(int ops, int blocks, std::uint64_t slots) {
    blocks_ = blocks;
    slots_ = slots;
    { CacheFile::Open(Options(path_, slots)); }
    Reopen(std::make_shared<test::FakeDisk>(path_));
    for (int i = 0; i < ops && !::testing::Test::HasFatalFailure(); ++i) {
      const auto b = static_cast<BlockNum>(rng_() % static_cast<std::uint64_t>(blocks_));
      switch (rng_() % 16) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
          Write(b, /*zero=*/rng_() % 10 == 0);
          break;
        case 5:
        case 6:
          Sync();
          break;
        case 7:
        case 8:
          if (cached_.count(b) && cached_[b].dirty) Upload(b);
          break;
        case 9:
          if (cached_.count(b) && !cached_[b].dirty) Evict(b);
          break;
        case 10:
          if (!cached_.count(b)) Load(b);
          break;
        case 11:
          if (rng_() % 4 == 0) Crash();
          break;
        default:
          Write(b, false);
      }
    }
    Crash();
  }

 private:
  struct Cached {
    std::uint64_t seq;
    CacheFile::Pos pos;
    bool dirty;
  };

  void Reopen(std::shared_ptr<test::FakeDisk> disk) {
    disk_ = std::move(disk);
    file_ = CacheFile::Open(Options(path_, slots_, disk_));
    file_->SetSlotsFreedCallback([this] {
      std::lock_guard lock(mu_);
      ++freed_;
      cv_.notify_all();
    });
  }

  CacheFile::Reservation MakeRoom(BlockNum b) {
    for (;;) {
      std::uint64_t freed;
      {
        std::lock_guard lock(mu_);
        freed = freed_;
      }
      if (auto r = file_->TryReserve(b)) return r;
      bool acted = false;
      for (auto& [other, c] : cached_) {
        if (!c.dirty && other != b) {
          Evict(other);
          acted = true;
          break;
        }
      }
      if (!acted) {
        for (auto& [other, c] : cached_) {
          if (c.dirty) {
            Upload(other);
            acted = true;
            break;
          }
        }
      }
      if (acted) continue;
      // Only shadows left: the journal frees them after its next sync.
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return freed_ != freed; })) {
        ADD_FAILURE() << "no slot became free";
        return {};
      }
    }
  }

  void Write(BlockNum b, bool zero) {
    CacheFile::Reservation r = MakeRoom(b);
    if (!r) return;
    Bytes data = zero ? Bytes(kBs, 0) : Block(++counter_);
    CacheFile::Version v;
    ASSERT_FALSE(file_->Put(r, b, data, zero, /*dirty=*/true, ObjectVersion{}, &v));
    versions_[b].push_back(data);
    current_[b] = static_cast<int>(versions_[b].size()) - 1;
    cached_[b] = Cached{v.seq, v.pos, true};
  }

  void Sync() {
    ASSERT_FALSE(file_->WaitDurable(file_->Written()));
    for (const auto& [b, k] : current_) floor_[b] = k;
  }

  // R4: durable first; then the store has it (and is durable, R6); then CLEAN.
  void Upload(BlockNum b) {
    Cached& c = cached_[b];
    ASSERT_FALSE(file_->WaitDurable(c.pos));
    store_[b] = current_[b];
    floor_[b] = std::max(floor_.count(b) ? floor_[b] : -1, store_[b]);
    ASSERT_FALSE(file_->MarkClean(b, c.seq, ObjectVersion{}));
    c.dirty = false;
  }

  void Evict(BlockNum b) {
    file_->Drop(b);
    cached_.erase(b);
  }

  Bytes Stored(BlockNum b) {
    auto it = store_.find(b);
    return it == store_.end() ? Bytes(kBs, 0) : versions_[b][static_cast<std::size_t>(it->second)];
  }

  void Load(BlockNum b) {
    CacheFile::Reservation r = MakeRoom(b);
    if (!r) return;
    const Bytes data = Stored(b);
    CacheFile::Version v;
    ASSERT_FALSE(file_->Put(r, b, data, IsAllZero(data), /*dirty=*/false, ObjectVersion{}, &v));
    cached_[b] = Cached{v.seq, v.pos, false};
  }

  void Crash() {
    disk_->Freeze();
    file_.reset();
    test::WriteImage(path_, disk_->Crash(rng_));
    ++crashes_;
    Reopen(std::make_shared<test::FakeDisk>(path_));
    auto rec = ByBlock(file_->TakeRecovered());
    cached_.clear();
    for (const auto& [b, list] : versions_) {
      Bytes content = Stored(b);
      auto it = rec.find(b);
      if (it != rec.end() && it->second.dirty) {
        content = it->second.zero ? Bytes(kBs, 0) : *it->second.data;
        EXPECT_EQ(s3::Md5(content), std::optional<BlockMd5>(it->second.md5));
      }
      // The newest version with this content must not be older than the floor.
      int k = -1;
      for (int i = static_cast<int>(list.size()) - 1; i >= 0 && k < 0; --i) {
        if (list[static_cast<std::size_t>(i)] == content) k = i;
      }
      const int floor = floor_.count(b) ? floor_[b] : -1;
      ASSERT_GE(k, floor) << "block " << b << " lost data at crash " << crashes_ << " ("
                          << (it == rec.end() ? "not recovered" : it->second.dirty ? "dirty" : "clean") << ")";
      current_[b] = k;  // what the block holds now
      if (it != rec.end() && !it->second.dirty && s3::Md5(Stored(b)) == std::optional<BlockMd5>(it->second.md5)) {
        // A clean copy that revalidates must read back right (or be refused).
        Bytes out(kBs);
        if (!file_->ReadData(b, it->second.seq, out)) {
          EXPECT_EQ(out, Stored(b)) << "block " << b;
        }
      }
    }
    // Recovery: the unsaved versions are uploaded first.
    for (auto& [b, r] : rec) {
      if (r.dirty) {
        cached_[b] = Cached{r.seq, 0, true};
        Upload(b);
      } else {
        cached_[b] = Cached{r.seq, 0, false};
      }
    }
  }

  const std::string path_;
  std::mt19937_64 rng_;
  int blocks_ = 0;
  std::uint64_t slots_ = 0;
  std::shared_ptr<test::FakeDisk> disk_;
  std::unique_ptr<CacheFile> file_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t freed_ = 0;  // guarded by mu_
  std::uint64_t counter_ = 1000;
  int crashes_ = 0;
  std::map<BlockNum, std::vector<Bytes>> versions_;  // every version written, in order
  std::map<BlockNum, int> floor_;                    // index of the newest version a sync or upload covered
  std::map<BlockNum, int> store_;                    // index of the version in the store
  std::map<BlockNum, int> current_;                  // index of the version the block holds now
  std::map<BlockNum, Cached> cached_;                // the blocks in the file, as the test knows them
};

TEST(CacheFile, PowerLossNeverLosesSyncedOrUploadedData) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    test::TempDir dir;
    CrashModel model(dir.path() + "/cache", seed);
    model.Run(2000, /*blocks=*/6, /*slots=*/5);
    if (HasFatalFailure()) FAIL() << "seed " << seed;
  }
}

// Hostile or damaged content: opening either refuses with a message or
// recovers only blocks whose data checks out; nothing crashes.
TEST(CacheFile, RandomCorruptionNeverCrashes) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  {
    auto f = CacheFile::Open(Options(path, 12));
    for (BlockNum b = 0; b < 6; ++b) Put(*f, b, Block(b + 50), /*dirty=*/b % 2 == 0);
    Put(*f, 2, Block(99), true);
    ASSERT_FALSE(f->WaitDurable(f->Written()));
  }
  const std::string base = test::FakeDisk(path).Image();
  std::mt19937_64 rng(7);
  int opened = 0, refused = 0;
  for (int i = 0; i < 400; ++i) {
    std::string image = base;
    const int mutations = 1 + static_cast<int>(rng() % 20);
    for (int m = 0; m < mutations; ++m) {
      const auto kind = rng() % 10;
      std::size_t at;
      if (kind == 0) {
        at = rng() % CacheFile::kHeaderSize;  // the superblock
      } else if (kind < 6) {
        at = CacheFile::kHeaderSize + rng() % (12 * CacheFile::kEntrySize);  // the table
      } else {
        at = rng() % image.size();
      }
      if (kind == 9) {
        // A valid entry copied to another slot.
        const std::size_t from = CacheFile::kHeaderSize + (rng() % 12) * CacheFile::kEntrySize;
        const std::size_t to = CacheFile::kHeaderSize + (rng() % 12) * CacheFile::kEntrySize;
        image.replace(to, CacheFile::kEntrySize, image.substr(from, CacheFile::kEntrySize));
      } else {
        image[at] = static_cast<char>(rng());
      }
    }
    if (rng() % 20 == 0) image.resize(rng() % image.size());
    test::WriteImage(path, image);
    try {
      auto f = CacheFile::Open(Options(path, 12));
      ++opened;
      for (const auto& r : f->TakeRecovered()) {
        EXPECT_LT(r.block, kGeom.num_blocks);
        if (r.dirty && !r.zero) {
          EXPECT_EQ(s3::Md5(*r.data), std::optional<BlockMd5>(r.md5));
        }
        Bytes out(kBs);
        if (!r.dirty && !f->ReadData(r.block, r.seq, out)) {
          EXPECT_EQ(s3::Md5(out), std::optional<BlockMd5>(r.md5));
        }
      }
      // Still usable.
      if (auto res = f->TryReserve(40)) {
        CacheFile::Version v;
        EXPECT_FALSE(f->Put(res, 40, Block(40), false, true, ObjectVersion{}, &v));
        EXPECT_FALSE(f->WaitDurable(v.pos));
      }
    } catch (const StartupError&) {
      ++refused;
    }
  }
  EXPECT_GT(opened, 100);
  EXPECT_GT(refused, 0);
}

// A CLEAN entry remembers the version of the stored object it stands for
// (the one read, or the one its upload created), for revalidation after a
// restart; a DIRTY one has none yet.
TEST(CacheFile, CleanEntriesKeepTheStoredVersion) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  {
    auto f = CacheFile::Open(Options(path, 8));
    Put(*f, 3, Block(3), /*dirty=*/false, TestVersion(7));
    const CacheFile::Version v4 = Put(*f, 4, Block(4), /*dirty=*/true);
    ASSERT_FALSE(f->WaitDurable(v4.pos));
    ASSERT_FALSE(f->MarkClean(4, v4.seq, TestVersion(9)));
    const CacheFile::Version v5 = Put(*f, 5, Block(5), /*dirty=*/true, TestVersion(1));
    ASSERT_FALSE(f->WaitDurable(f->Written()));
    (void)v5;
  }
  auto f = CacheFile::Open(Options(path, 8));
  auto rec = ByBlock(f->TakeRecovered());
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_EQ(rec[3].version, TestVersion(7));
  EXPECT_EQ(rec[4].version, TestVersion(9));
  EXPECT_FALSE(rec[5].version.known);  // dirty: not stored yet
  EXPECT_TRUE(rec[5].dirty);
}

// --- The saved block map (cache_file.h, "Saved block map").

constexpr const char* kStamp = "0123456789abcdef0123456789abcdef";

// Where the region starts in a file of `slots` slots of kGeom, and its
// header's fields (the layout in cache_file.cpp), for tests that craft one.
std::size_t MapOffset(std::uint64_t slots = 8) {
  return (CacheFile::kHeaderSize + slots * CacheFile::kEntrySize + 4095) / 4096 * 4096 + slots * kBs;
}
constexpr std::size_t kMapHeader = 4096, kMapVersionAt = 8, kMapBitsCrcAt = 48, kMapCrcAt = 636;

CacheFile::BlockLister ListOf(std::vector<BlockNum> blocks) {
  return [blocks](const std::function<void(BlockNum)>& fn) {
    for (BlockNum b : blocks) fn(b);
  };
}

// The saved map's blocks; nullopt (and *why) if it cannot be read.
std::optional<std::set<BlockNum>> SavedMap(CacheFile& f, std::string* why = nullptr) {
  std::set<BlockNum> got;
  std::string w;
  if (f.ReadSavedMap([&](BlockNum b) { got.insert(b); }, &w)) {
    if (why) *why = w;
    return std::nullopt;
  }
  return got;
}

std::uint32_t Crc32(const std::string& s, std::size_t at, std::size_t n, std::uint32_t crc = 0) {
  return static_cast<std::uint32_t>(::crc32(crc, reinterpret_cast<const Bytef*>(s.data() + at), static_cast<uInt>(n)));
}
void Put32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
// Recomputes the map header's CRC (after a test changed a field).
void ResealMapHeader(std::string& image, std::size_t slots = 8) {
  Put32(image, MapOffset(slots) + kMapCrcAt, Crc32(image, MapOffset(slots), kMapCrcAt));
}

TEST(CacheFile, SavedMapRoundTripsAndIsForgotten) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  {
    auto f = CacheFile::Open(Options(path));
    EXPECT_EQ(f->saved_map_stamp(), "") << "a new file holds no saved map";
    std::string why;
    EXPECT_FALSE(SavedMap(*f, &why));
    EXPECT_NE(why.find("no saved block map"), std::string::npos) << why;
    ASSERT_FALSE(f->ForgetSavedMap());
    EXPECT_EQ(std::filesystem::file_size(path), MapOffset()) << "forgetting nothing writes nothing";
    Put(*f, 9, Block(9), /*dirty=*/false);
    ASSERT_FALSE(f->SaveMap(kStamp, ListOf({0, 7, 8, 40, 63})));
    EXPECT_EQ(f->saved_map_stamp(), kStamp);
  }
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  {
    auto f = CacheFile::Open(Options(path));
    EXPECT_EQ(f->saved_map_stamp(), kStamp);
    EXPECT_EQ(SavedMap(*f), (std::set<BlockNum>{0, 7, 8, 40, 63}));
    EXPECT_EQ(f->TakeRecovered().size(), 1u) << "the slots are untouched by the map";
    ASSERT_FALSE(f->ForgetSavedMap());
    EXPECT_EQ(f->saved_map_stamp(), "");
    EXPECT_FALSE(SavedMap(*f));
  }
  {
    auto f = CacheFile::Open(Options(path));
    EXPECT_EQ(f->saved_map_stamp(), "") << "forgotten on disk, not only in memory";
    ASSERT_FALSE(f->SaveMap("other-stamp", ListOf({})));
  }
  auto f = CacheFile::Open(Options(path));
  EXPECT_EQ(f->saved_map_stamp(), "other-stamp");
  EXPECT_EQ(SavedMap(*f), std::set<BlockNum>{}) << "an empty map is a map";
}

// A file made before saved maps (it ends after its slots): no saved map; a
// map is saved after its end, and the slots stay valid.
TEST(CacheFile, FileWithoutTheRegionHasNoSavedMap) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  {
    auto f = CacheFile::Open(Options(path));
    Put(*f, 3, Block(3), /*dirty=*/true);
    ASSERT_FALSE(f->WaitDurable(f->Written()));
  }
  ASSERT_EQ(std::filesystem::file_size(path), MapOffset());
  {
    auto f = CacheFile::Open(Options(path));
    EXPECT_EQ(f->saved_map_stamp(), "");
    auto rec = f->TakeRecovered();
    ASSERT_EQ(rec.size(), 1u);
    ASSERT_FALSE(f->MarkClean(3, rec[0].seq, ObjectVersion{}));
    ASSERT_FALSE(f->SaveMap(kStamp, ListOf({3})));
  }
  EXPECT_EQ(std::filesystem::file_size(path), MapOffset() + kMapHeader + kGeom.num_blocks / 8);
  auto f = CacheFile::Open(Options(path));
  EXPECT_EQ(SavedMap(*f), std::set<BlockNum>{3});
  EXPECT_EQ(f->TakeRecovered().size(), 1u);
}

TEST(CacheFile, SaveMapRefusesBadInputAndLeavesNoMap) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  auto f = CacheFile::Open(Options(path));
  const auto einval = std::make_error_code(std::errc::invalid_argument);
  EXPECT_EQ(f->SaveMap("", ListOf({1})), einval);
  EXPECT_EQ(f->SaveMap(std::string(CacheFile::kMaxMapStamp + 1, 'a'), ListOf({1})), einval);
  EXPECT_EQ(f->SaveMap("a\nb", ListOf({1})), einval);
  ASSERT_FALSE(f->SaveMap(kStamp, ListOf({1, 2})));
  for (const auto& bad : std::vector<std::vector<BlockNum>>{{3, 2}, {3, 3}, {1, kGeom.num_blocks}}) {
    EXPECT_EQ(f->SaveMap(kStamp, ListOf(bad)), einval);
    EXPECT_EQ(f->saved_map_stamp(), "");
  }
  f.reset();
  f = CacheFile::Open(Options(path));
  EXPECT_EQ(f->saved_map_stamp(), "") << "a failed save leaves no map, not the one saved before";
}

TEST(CacheFile, DamagedForeignOrTruncatedSavedMapIsNotUsed) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  {
    auto f = CacheFile::Open(Options(path));
    ASSERT_FALSE(f->SaveMap(kStamp, ListOf({1, 2, 3, 60})));
  }
  const std::string base = test::FakeDisk(path).Image();
  const std::size_t at = MapOffset();
  ASSERT_EQ(base.size(), at + kMapHeader + 8);
  // Each case: the image, and whether the header still checks out (then
  // ReadSavedMap must refuse the bitmap).
  struct Case {
    std::string name;
    std::string image;
    bool header_ok;
    CacheFileOptions options;
  };
  std::vector<Case> cases;
  const auto with = [&](std::string name, const std::function<void(std::string&)>& change, bool header_ok,
                        CacheFileOptions o) {
    std::string image = base;
    change(image);
    cases.push_back({std::move(name), std::move(image), header_ok, std::move(o)});
  };
  with("a bitmap byte", [&](std::string& i) { i[at + kMapHeader + 1] ^= 0x10; }, true, Options(path));
  with("a header byte", [&](std::string& i) { i[at + 40] ^= 1; }, false, Options(path));
  with("the stamp", [&](std::string& i) { i[at + 60] ^= 1; }, false, Options(path));
  with("the magic", [&](std::string& i) { i[at] = 'X'; }, false, Options(path));
  with("a newer format", [&](std::string& i) {
    Put32(i, at + kMapVersionAt, 2);
    ResealMapHeader(i);
  }, false, Options(path));
  with("the bitmap cut short", [&](std::string& i) { i.resize(at + kMapHeader + 4); }, false, Options(path));
  with("the header cut short", [&](std::string& i) { i.resize(at + 100); }, false, Options(path));
  with("a bit past the end, CRCs fixed", [&](std::string& i) {
    // 64 blocks fill the bitmap exactly: in a file of 60 blocks, bits 60-63
    // are past the end. Pretend the map is of 60 blocks, with bit 60 set.
    for (int k = 0; k < 8; ++k) i[at + 32 + k] = k == 0 ? 60 : 0;
    Put32(i, at + kMapBitsCrcAt, Crc32(i, at + kMapHeader, 8));
    ResealMapHeader(i);
  }, true, [&] {
    CacheFileOptions o = Options(path);
    o.geometry.num_blocks = 60;
    return o;
  }());
  with("another geometry (a resized volume)", [](std::string&) {}, false, [&] {
    CacheFileOptions o = Options(path);
    o.geometry.num_blocks = 128;
    return o;
  }());
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    test::WriteImage(path, c.image);
    test::LogCapture log;
    auto f = CacheFile::Open(c.options);
    std::string why;
    if (c.header_ok) {
      EXPECT_EQ(f->saved_map_stamp(), kStamp);
      EXPECT_FALSE(SavedMap(*f, &why));
      EXPECT_NE(why.find("damaged"), std::string::npos) << why;
    } else {
      EXPECT_EQ(f->saved_map_stamp(), "");
      EXPECT_FALSE(SavedMap(*f));
      const std::string text = log.text();
      EXPECT_NE(text.find("its saved block map is not used"), std::string::npos) << text;
      EXPECT_EQ(text.find("its saved block map is not used"), text.rfind("its saved block map is not used"))
          << "logged once: " << text;
    }
    // Forgotten like a good one; the file stays usable.
    ASSERT_FALSE(f->ForgetSavedMap());
    ASSERT_FALSE(f->SaveMap(kStamp, ListOf({5})));
    EXPECT_EQ(SavedMap(*f), std::set<BlockNum>{5});
  }
}

// The same bytes in another cache file of the same volume (its id differs),
// or in a file of another volume, are not that file's map.
TEST(CacheFile, SavedMapOfAnotherFileOrVolumeIsNotUsed) {
  test::TempDir dir;
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  {
    auto f = CacheFile::Open(Options(a));
    ASSERT_FALSE(f->SaveMap(kStamp, ListOf({1})));
  }
  { CacheFile::Open(Options(b)); }
  std::string image_a = test::FakeDisk(a).Image(), image_b = test::FakeDisk(b).Image();
  image_b.resize(image_a.size());
  image_b.replace(MapOffset(), std::string::npos, image_a.substr(MapOffset()));
  test::WriteImage(b, image_b);
  {
    test::LogCapture log;
    auto f = CacheFile::Open(Options(b));
    EXPECT_EQ(f->saved_map_stamp(), "");
    EXPECT_NE(log.text().find("made for another cache file"), std::string::npos) << log.text();
  }
  // File a relabelled as another volume's (its superblock rewritten): the
  // region still names the first volume.
  const std::string other = "volume ffffffffffffffffffffffffffffffff";
  std::string relabelled = image_a;
  relabelled.replace(60, other.size(), other);
  Put32(relabelled, 60 + 512, Crc32(relabelled, 0, 60 + 512));
  test::WriteImage(a, relabelled);
  CacheFileOptions o = Options(a);
  o.volume = other;
  test::LogCapture log;
  auto f = CacheFile::Open(o);
  EXPECT_EQ(f->saved_map_stamp(), "");
  EXPECT_NE(log.text().find("belongs to another volume"), std::string::npos) << log.text();
}

// Random damage to the region: never a crash, and a map that reads back is
// always exactly the map that was saved.
TEST(CacheFile, RandomCorruptionOfTheSavedMapNeverCrashes) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  const std::set<BlockNum> saved{0, 9, 17, 33, 63};
  {
    auto f = CacheFile::Open(Options(path));
    ASSERT_FALSE(f->SaveMap(kStamp, ListOf({saved.begin(), saved.end()})));
  }
  const std::string base = test::FakeDisk(path).Image();
  std::mt19937_64 rng(12);
  int used = 0, unused = 0;
  for (int i = 0; i < 300; ++i) {
    std::string image = base;
    const int mutations = static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      const std::size_t at = MapOffset() + (rng() % 2 ? rng() % 700 : kMapHeader + rng() % 8);
      image[at] = static_cast<char>(rng());
    }
    if (rng() % 10 == 0) image.resize(MapOffset() + rng() % (base.size() - MapOffset()));
    test::WriteImage(path, image);
    test::LogCapture quiet;
    auto f = CacheFile::Open(Options(path));
    if (auto got = SavedMap(*f)) {
      EXPECT_EQ(*got, saved);
      EXPECT_EQ(f->saved_map_stamp(), kStamp);
      ++used;
    } else {
      ++unused;
    }
  }
  EXPECT_GT(used, 0);
  EXPECT_GT(unused, 100);
}

// A power loss while a map is saved over an older one: what survives is
// either no map or one of the two, each exactly as saved under its stamp.
TEST(CacheFile, PowerLossDuringSaveMapNeverMixesMaps) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  const std::set<BlockNum> first{1, 2, 3}, second{4, 50, 63};
  { CacheFile::Open(Options(path)); }
  std::mt19937_64 rng(5);
  std::map<std::string, int> outcomes;
  for (int i = 0; i < 60; ++i) {
    auto disk = std::make_shared<test::FakeDisk>(path);
    {
      auto f = CacheFile::Open(Options(path, 8, disk));
      ASSERT_FALSE(f->SaveMap("first", ListOf({first.begin(), first.end()})));
      disk->FailWritesAfter(static_cast<int>(rng() % 4));  // the save stops after 0-3 writes
      (void)f->SaveMap("second", ListOf({second.begin(), second.end()}));
      const std::string crashed = disk->Crash(rng);
      f.reset();
      test::WriteImage(path, crashed);
    }
    test::LogCapture quiet;
    auto f = CacheFile::Open(Options(path));
    const std::string stamp = f->saved_map_stamp();
    const auto got = SavedMap(*f);
    if (!got) {
      ++outcomes["none"];
    } else if (stamp == "first") {
      EXPECT_EQ(*got, first);
      ++outcomes["first"];
    } else {
      EXPECT_EQ(stamp, "second");
      EXPECT_EQ(*got, second);
      ++outcomes["second"];
    }
    ASSERT_FALSE(f->ForgetSavedMap());
  }
  EXPECT_GT(outcomes["none"], 0);
  EXPECT_GT(outcomes["second"], 0);
}

}  // namespace
}  // namespace s3bd
