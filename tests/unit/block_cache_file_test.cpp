// The block cache with a cache file (--cache-file, --durable-cache): a
// restart uploads the saved dirty blocks before anything else; clean blocks
// are revalidated against the store (changed ones are fetched again, damaged
// ones too); the durable flush returns once the file is synced while uploads
// go on; tiny caches still make progress; a file that fails turns writes
// into errors and flushes into uploads; and a power-loss model: random
// writes, durable flushes and crashes (a random subset of the unsynced
// sectors survives), after which the store must hold, for every block, a
// version at least as new as the last flushed one.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "fake_disk.h"
#include "gate.h"
#include "gate_store.h"
#include "s3bd/cache/block_cache.h"
#include "s3bd/s3/crypto.h"
#include "s3bd/store/fault_store.h"
#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

using std::chrono::milliseconds;
constexpr Geometry kGeom{4096, 64};
constexpr std::size_t kBs = 4096;
using Bytes = std::vector<std::uint8_t>;

Bytes Block(std::uint64_t seed) { return test::RandomBytes(kBs, seed); }

// The bottom of a test stack that outlives the caches built on it (a
// restart keeps the store). With `conditional`, revalidations go to the
// store's version check (as S3's conditional GET, 304 when the version is
// unchanged), and it counts the unchanged ones.
class Bottom : public BlockStore {
 public:
  explicit Bottom(BlockStore& store) : BlockStore("bottom", store.geometry()), store_(store) {}
  std::atomic<bool> conditional{false};
  std::atomic<int> not_modified{0};
  std::vector<BlockNum> written() {
    std::lock_guard lock(mu_);
    return written_;
  }
  // Reads wait while held; WaitForReads(n): until n reads wait.
  void HoldReads(bool hold) { hold ? reads_.Close() : reads_.Open(); }
  void WaitForReads(int n) { reads_.WaitFor(n); }

 private:
  std::error_code DoRead(BlockNum b, std::span<std::uint8_t> out, ObjectVersion* version) override {
    reads_.Pass();
    return store_.Read(b, out, version);
  }
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d, ObjectVersion* version) override {
    {
      std::lock_guard lock(mu_);
      written_.push_back(b);
    }
    return store_.Write(b, d, version);
  }
  std::error_code DoZero(BlockNum b) override {
    {
      std::lock_guard lock(mu_);
      written_.push_back(b);
    }
    return store_.Zero(b);
  }
  std::error_code DoFlush(FlushLevel level) override { return store_.Flush(level); }
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override { return store_.ListNonZero(fn); }
  // With `conditional`, the store's own revalidation by version (as S3's
  // conditional GET); else a plain read.
  std::error_code DoRevalidate(BlockNum b, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh,
                               ObjectVersion* now) override {
    if (!conditional) {
      *fresh = true;
      return store_.Read(b, out, now);
    }
    if (auto ec = store_.Revalidate(b, v, out, fresh, now)) return ec;
    if (!*fresh) ++not_modified;
    return {};
  }

  BlockStore& store_;
  std::mutex mu_;  // guards written_
  test::Gate reads_;
  std::vector<BlockNum> written_;
};

CacheConfig Config(milliseconds write_delay = milliseconds(3600 * 1000)) {
  CacheConfig c;
  c.cache_size = 16 * kBs;
  c.threads = 1;
  c.write_delay = write_delay;
  c.read_ahead = 0;
  c.retry_delay = milliseconds(1);
  c.durable = true;
  return c;
}

// cache (with its file) -> gate -> faults -> bottom -> the shared memory store.
class Mount {
 public:
  Mount(MemoryStore& mem, const std::string& path, CacheConfig cfg,
        std::shared_ptr<CacheFileIo> io = nullptr) {
    auto b = std::make_unique<Bottom>(mem);
    bottom = b.get();
    auto f = std::make_unique<FaultStore>(std::move(b), FaultSpec{});
    faults = f.get();
    auto g = std::make_unique<test::GateStore>(std::move(f));
    gate = g.get();
    CacheFileOptions o;
    o.path = path;
    o.volume = "volume test";
    o.geometry = kGeom;
    o.slots = (cfg.cache_file_size ? cfg.cache_file_size : cfg.cache_size) / kBs;
    o.io = std::move(io);
    cache = std::make_unique<BlockCache>(std::move(g), cfg, CacheFile::Open(o));
  }
  std::string Stats() {
    std::ostringstream os;
    cache->PrintStats(os);
    return os.str();
  }
  Bytes Read(BlockNum b) {
    Bytes out(kBs);
    EXPECT_FALSE(cache->Read(b, out));
    return out;
  }
  Bottom* bottom;
  FaultStore* faults;
  test::GateStore* gate;
  std::unique_ptr<BlockCache> cache;
};

Bytes Stored(MemoryStore& mem, BlockNum b) {
  Bytes out(kBs);
  EXPECT_FALSE(mem.Read(b, out));
  return out;
}

TEST(BlockCacheFile, RestartUploadsSavedBlocksFirst) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  {
    Mount m(mem, path, Config());
    for (BlockNum b = 1; b <= 3; ++b) ASSERT_FALSE(m.cache->Write(b, Block(b)));
    const Bytes patch = Block(20);
    ASSERT_FALSE(m.cache->WritePart(2, 100, std::span(patch).first(50)));
    ASSERT_FALSE(m.cache->Zero(3));
    ASSERT_FALSE(m.cache->Flush());  // durable: in the file, nothing uploaded
    EXPECT_EQ(mem.StoredBlocks(), 0u);
    EXPECT_EQ(m.cache->DirtyBlocks(), 3u);
    // A crash: uploads fail from now on, so the cache is dropped unsaved.
    FaultSpec fail;
    fail.write = fail.zero = 1;
    m.faults->SetSpec(fail);
  }
  ASSERT_FALSE(mem.Write(3, Block(33)));  // the zeroing of block 3 must win
  CacheConfig cfg = Config(milliseconds(0));
  Mount m(mem, path, cfg);
  ASSERT_FALSE(m.cache->Write(9, Block(9)));
  ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));
  const auto order = m.bottom->written();
  ASSERT_GE(order.size(), 4u);
  EXPECT_EQ(std::vector<BlockNum>(order.begin(), order.begin() + 3), (std::vector<BlockNum>{1, 2, 3}));
  EXPECT_EQ(Stored(mem, 1), Block(1));
  Bytes want2 = Block(2);
  std::memcpy(want2.data() + 100, Block(20).data(), 50);
  EXPECT_EQ(Stored(mem, 2), want2);
  EXPECT_TRUE(IsAllZero(Stored(mem, 3)));
  EXPECT_EQ(Stored(mem, 9), Block(9));
  EXPECT_NE(m.Stats().find("3 recovered blocks uploaded first"), std::string::npos) << m.Stats();
}

TEST(BlockCacheFile, CleanBlocksAreRevalidatedBeforeUse) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  {
    Mount m(mem, path, Config());
    for (BlockNum b = 5; b <= 8; ++b) ASSERT_FALSE(m.cache->Write(b, Block(b)));
    ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));  // stored, and CLEAN in the file
  }
  ASSERT_FALSE(mem.Write(6, Block(66)));  // changed behind the cache's back
  {
    // Damage block 8's data in the file: a revalidation that says
    // "unchanged" must not hand out damaged data.
    auto disk = std::make_shared<test::FakeDisk>(path);
    std::string image = disk->Image();
    const std::string needle(reinterpret_cast<const char*>(Block(8).data()), 64);
    const auto at = image.find(needle);
    ASSERT_NE(at, std::string::npos);
    image[at + 10] ^= 1;
    test::WriteImage(path, image);
  }
  Mount m(mem, path, Config());
  m.bottom->conditional = true;
  EXPECT_EQ(m.Read(5), Block(5));   // unchanged: from the file
  EXPECT_EQ(m.Read(6), Block(66));  // changed: the store's data
  EXPECT_EQ(m.Read(8), Block(8));   // damaged in the file: fetched again
  EXPECT_EQ(m.Read(7), Block(7));
  EXPECT_EQ(m.bottom->not_modified, 3);
  // Block 8 counts as changed: the store's data replaced the damaged copy.
  EXPECT_NE(m.Stats().find("revalidated       2 unchanged, 2 changed"), std::string::npos) << m.Stats();
  // The refreshed block 6 is cached in the file: a restart does not fetch it.
  m.cache.reset();
  Mount again(mem, path, Config());
  again.bottom->conditional = true;
  EXPECT_EQ(again.Read(6), Block(66));
  EXPECT_EQ(again.Read(8), Block(8));
  EXPECT_EQ(again.bottom->not_modified, 2);
}

TEST(BlockCacheFile, DurableFlushDoesNotWaitForUploads) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  Mount m(mem, path, Config(milliseconds(0)));
  m.gate->Close();
  ASSERT_FALSE(m.cache->Write(1, Block(1)));
  m.gate->WaitForWaiting(1);       // the upload is held
  ASSERT_FALSE(m.cache->Flush());  // durable in the file: returns anyway
  auto to_store = std::async(std::launch::async, [&] { return m.cache->Flush(FlushLevel::kStore); });
  EXPECT_EQ(to_store.wait_for(milliseconds(20)), std::future_status::timeout);
  m.gate->Open();
  EXPECT_FALSE(to_store.get());
  EXPECT_EQ(Stored(mem, 1), Block(1));
}

TEST(BlockCacheFile, WithoutDurableCacheFlushMeansStored) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  CacheConfig cfg = Config();
  cfg.durable = false;
  Mount m(mem, path, cfg);
  ASSERT_FALSE(m.cache->Write(1, Block(1)));
  ASSERT_FALSE(m.cache->Flush());
  EXPECT_EQ(Stored(mem, 1), Block(1));
}

// Two slots, rewrites of dirty blocks and an hour of write delay: writes
// wait for slots (uploads start at once), never forever.
TEST(BlockCacheFile, TinyCacheMakesProgress) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  CacheConfig cfg = Config();
  cfg.cache_size = 2 * kBs;
  cfg.max_dirty = 2 * kBs;
  Mount m(mem, path, cfg);
  std::map<BlockNum, Bytes> want;
  // Blocks 0 and 1 fill both slots, dirty; rewriting 0 needs a third slot.
  for (BlockNum b : {0, 1, 0}) {
    want[b] = Block(b + 10);
    ASSERT_FALSE(m.cache->Write(b, want[b]));
  }
  EXPECT_NE(m.Stats().find("slot waits        1;"), std::string::npos) << m.Stats();
  for (int i = 0; i < 40; ++i) {
    const BlockNum b = static_cast<BlockNum>(i % 5);
    want[b] = Block(static_cast<std::uint64_t>(100 + i));
    ASSERT_FALSE(m.cache->Write(b, want[b]));
  }
  for (const auto& [b, data] : want) EXPECT_EQ(m.Read(b), data);
  ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));
  for (const auto& [b, data] : want) EXPECT_EQ(Stored(mem, b), data);
}

// A write that waits for a slot must not overtake a read that began
// fetching the block's older data meanwhile: the write's data wins.
TEST(BlockCacheFile, WriteWaitingForASlotDoesNotRaceALoad) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  ASSERT_FALSE(mem.Write(5, Block(50)));
  CacheConfig cfg = Config();
  cfg.cache_size = 2 * kBs;
  cfg.max_dirty = 2 * kBs;
  { Mount(mem, path, cfg); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  Mount m(mem, path, cfg, disk);
  ASSERT_FALSE(m.cache->Write(0, Block(1)));
  disk->AllowSyncs(0);
  ASSERT_FALSE(m.cache->Write(0, Block(2)));  // its first slot is a shadow until a sync
  // Both slots are taken: the write of block 5 waits for one.
  auto write = std::async(std::launch::async, [&] { return m.cache->Write(5, Block(51)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (m.Stats().find("slot waits        1;") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << m.Stats();
    std::this_thread::yield();
  }
  m.bottom->HoldReads(true);
  auto read = std::async(std::launch::async, [&] { return m.Read(5); });
  m.bottom->WaitForReads(1);  // the read is fetching the old data
  disk->AllowSyncs(-1);       // the shadow is freed: the write could go on
  EXPECT_EQ(write.wait_for(milliseconds(50)), std::future_status::timeout);
  m.bottom->HoldReads(false);
  EXPECT_FALSE(write.get());
  const Bytes seen = read.get();
  EXPECT_TRUE(seen == Block(50) || seen == Block(51));
  EXPECT_EQ(m.Read(5), Block(51));
  ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));
  EXPECT_EQ(Stored(mem, 5), Block(51));
}

// Writers, readers and flushes at once over few slots (slot waits,
// evictions, shadows, marking), then a restart: the cache, the store and a
// model agree on every block.
// Four threads of random writes, patches, zeros, reads and flushes against
// a model; then a restart from the file. `file_blocks` > `cache_blocks`: the
// disk tier (most blocks only in the file).
void ConcurrentModel(std::uint64_t cache_blocks, std::uint64_t file_blocks) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  constexpr BlockNum kBlocks = 24;
  std::array<std::mutex, kBlocks> locks;  // the Volume's role: one writer per block
  std::array<Bytes, kBlocks> model;
  for (auto& m : model) m = Bytes(kBs, 0);
  CacheConfig cfg = Config(milliseconds(1));
  cfg.cache_size = cache_blocks * kBs;
  cfg.cache_file_size = file_blocks * kBs;
  cfg.threads = 3;
  {
    Mount m(mem, path, cfg);
    std::atomic<bool> failed{false};
    const auto check = [&](const char* what, BlockNum b, std::error_code ec) {
      if (!ec) return;
      failed = true;
      ADD_FAILURE() << what << " of block " << b << ": " << ec.message();
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
        for (int i = 0; i < 300 && !failed; ++i) {
          const BlockNum b = rng() % kBlocks;
          const auto op = rng() % 10;
          if (op < 4) {
            std::lock_guard lock(locks[b]);
            model[b] = Block(rng());
            check("write", b, m.cache->Write(b, model[b]));
          } else if (op < 6) {
            std::lock_guard lock(locks[b]);
            const std::size_t off = rng() % kBs, len = 1 + rng() % (kBs - off);
            const Bytes patch = Block(rng());
            std::memcpy(model[b].data() + off, patch.data(), len);
            check("partial write", b, m.cache->WritePart(b, off, std::span(patch).first(len)));
          } else if (op < 7) {
            std::lock_guard lock(locks[b]);
            model[b] = Bytes(kBs, 0);
            check("zero", b, m.cache->Zero(b));
          } else if (op < 9) {
            Bytes out(kBs);
            check("read", b, m.cache->Read(b, out));
          } else {
            check("flush", b, rng() % 2 ? m.cache->Flush() : m.cache->Flush(FlushLevel::kStore));
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_FALSE(failed);
    for (BlockNum b = 0; b < kBlocks; ++b) EXPECT_EQ(m.Read(b), model[b]) << "block " << b;
    ASSERT_FALSE(m.cache->Flush());  // durable in the file; then stop without storing
    FaultSpec fail;
    fail.write = fail.zero = 1;
    m.faults->SetSpec(fail);
  }
  Mount again(mem, path, cfg);
  for (BlockNum b = 0; b < kBlocks; ++b) EXPECT_EQ(again.Read(b), model[b]) << "block " << b;
  ASSERT_FALSE(again.cache->Flush(FlushLevel::kStore));
  for (BlockNum b = 0; b < kBlocks; ++b) EXPECT_EQ(Stored(mem, b), model[b]) << "block " << b;
}

TEST(BlockCacheFile, ConcurrentUseMatchesTheModel) { ConcurrentModel(8, 8); }
TEST(BlockCacheFile, ConcurrentUseMatchesTheModelWithAFileEightTimesTheMemory) { ConcurrentModel(2, 16); }

TEST(BlockCacheFile, FailedFileRefusesWritesAndStillUploads) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  { Mount(mem, path, Config()); }
  auto disk = std::make_shared<test::FakeDisk>(path);
  {
    Mount m(mem, path, Config(), disk);
    ASSERT_FALSE(m.cache->Write(1, Block(1)));
    disk->FailSyncs();
    EXPECT_FALSE(m.cache->Flush());  // the file failed: flushed to the store instead
    EXPECT_EQ(Stored(mem, 1), Block(1));
    EXPECT_EQ(m.cache->Write(2, Block(2)), std::errc::io_error);
    EXPECT_EQ(m.Read(1), Block(1));
    ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));
  }
  // Everything was stored: the failed file is removed, the next mount starts afresh.
  EXPECT_FALSE(std::filesystem::exists(path));
}

// The power-loss model (see the top of the file). One writer; uploads run
// in the background; a crash freezes the file (and the store's writes) at a
// random moment, keeps a random subset of its unsynced sectors, and mounts
// again over the same store.
void PowerLossModel(std::uint64_t cache_blocks, std::uint64_t file_blocks) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    test::TempDir dir;
    const std::string path = dir.path() + "/cache";
    MemoryStore mem(kGeom);
    CacheConfig base = Config();
    base.cache_size = cache_blocks * kBs;
    base.cache_file_size = file_blocks * kBs;
    { Mount(mem, path, base); }
    std::mt19937_64 rng(seed);
    constexpr BlockNum kBlocks = 10;
    std::map<BlockNum, std::vector<Bytes>> versions;  // every content each block had, in order
    std::map<BlockNum, std::size_t> floor;            // the newest a flush covered
    std::map<BlockNum, Bytes> now;                    // the current content
    for (BlockNum b = 0; b < kBlocks; ++b) {
      now[b] = Bytes(kBs, 0);
      versions[b].push_back(now[b]);
    }
    std::uint64_t counter = 1;
    for (int crash = 0; crash < 12; ++crash) {
      auto disk = std::make_shared<test::FakeDisk>(path);
      CacheConfig cfg = base;
      cfg.write_delay = milliseconds(rng() % 3);
      cfg.threads = 2;
      cfg.durable = rng() % 2;  // a flush means "in the file" or "in the store"
      auto m = std::make_unique<Mount>(mem, path, cfg, disk);
      const int ops = 20 + static_cast<int>(rng() % 60);
      for (int i = 0; i < ops; ++i) {
        const BlockNum b = rng() % kBlocks;
        const auto op = rng() % 10;
        if (op < 5) {
          now[b] = Block(++counter);
          ASSERT_FALSE(m->cache->Write(b, now[b]));
        } else if (op < 7) {
          const std::size_t off = rng() % kBs, len = 1 + rng() % (kBs - off);
          const Bytes patch = Block(++counter);
          std::memcpy(now[b].data() + off, patch.data(), len);
          ASSERT_FALSE(m->cache->WritePart(b, off, std::span(patch).first(len)));
        } else if (op < 8) {
          now[b] = Bytes(kBs, 0);
          ASSERT_FALSE(m->cache->Zero(b));
        } else {
          ASSERT_FALSE(m->cache->Flush());
          for (BlockNum x = 0; x < kBlocks; ++x) floor[x] = versions[x].size();  // the next push is `now`
          for (BlockNum x = 0; x < kBlocks; ++x) versions[x].push_back(now[x]);
          continue;
        }
        versions[b].push_back(now[b]);
      }
      // Power loss: the file stops; uploads not yet sent fail.
      disk->Freeze();
      FaultSpec fail;
      fail.write = fail.zero = 1;
      m->faults->SetSpec(fail);
      m.reset();
      test::WriteImage(path, disk->Crash(rng));
      // Mount again: the saved blocks are uploaded.
      {
        Mount again(mem, path, base);
        ASSERT_FALSE(again.cache->Flush(FlushLevel::kStore));
      }
      for (BlockNum b = 0; b < kBlocks; ++b) {
        const Bytes stored = Stored(mem, b);
        const auto& list = versions[b];
        std::size_t k = list.size();
        for (std::size_t i = list.size(); i-- > 0 && k == list.size();) {
          if (list[i] == stored) k = i;
        }
        ASSERT_LT(k, list.size()) << "seed " << seed << " crash " << crash << ": block " << b
                                  << " holds data never written";
        ASSERT_GE(k, floor[b]) << "seed " << seed << " crash " << crash << ": block " << b
                               << " lost a flushed write";
        now[b] = stored;
        versions[b].push_back(stored);
        floor[b] = versions[b].size() - 1;  // stored now
      }
    }
  }
}

TEST(BlockCacheFile, PowerLossKeepsEveryFlushedWrite) { PowerLossModel(6, 6); }
TEST(BlockCacheFile, PowerLossKeepsEveryFlushedWriteWithAFileEightTimesTheMemory) { PowerLossModel(2, 16); }

// The disk tier: memory holds --cache-size, the file everything else; a
// block only in the file is read back from it, with no request to the store.
TEST(BlockCacheFile, DiskTierServesBlocksFromTheFileWithoutTheStore) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  CacheConfig cfg = Config(milliseconds(0));
  cfg.cache_size = 4 * kBs;
  cfg.cache_file_size = 32 * kBs;
  Mount m(mem, path, cfg);
  for (BlockNum b = 0; b < 32; ++b) ASSERT_FALSE(m.cache->Write(b, Block(b + 1)));
  ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));
  for (int pass = 0; pass < 2; ++pass) {
    for (BlockNum b = 0; b < 32; ++b) ASSERT_EQ(m.Read(b), Block(b + 1)) << "block " << b;
  }
  const StatsJson layers = m.cache->Stats();
  const StatsJson& cache = layers[0];
  const StatsJson& bottom = layers[3];
  ASSERT_EQ(bottom["layer"], "bottom");
  EXPECT_EQ(bottom["ops"]["read"]["ops"], 0) << m.Stats();  // no fetch: all from memory or the file
  EXPECT_EQ(m.cache->CachedBlocks(), 32u);
  EXPECT_LE(cache["memory_blocks"].get<std::uint64_t>(), 4u) << m.Stats();
  // Of the 64 reads, at most the 4 blocks in memory at a time hit there.
  EXPECT_GE(cache["cache_file"]["file_hits"].get<std::uint64_t>(), 2u * 28) << m.Stats();
}

// Through an outage: writes beyond the memory's share land in the file and
// fsync (--durable-cache) succeeds; reads are served; once the store is back
// every block is uploaded.
TEST(BlockCacheFile, DiskTierKeepsWorkingWhileTheStoreIsDown) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cache";
  MemoryStore mem(kGeom);
  CacheConfig cfg = Config(milliseconds(0));
  cfg.cache_size = 4 * kBs;
  cfg.cache_file_size = 32 * kBs;
  Mount m(mem, path, cfg);
  FaultSpec down;
  down.write = down.zero = down.read = 1;
  m.faults->SetSpec(down);
  for (BlockNum b = 0; b < 24; ++b) ASSERT_FALSE(m.cache->Write(b, Block(b + 7)));
  ASSERT_FALSE(m.cache->Flush());  // durable in the file
  for (BlockNum b = 0; b < 24; ++b) ASSERT_EQ(m.Read(b), Block(b + 7)) << "block " << b;
  EXPECT_EQ(m.cache->DirtyBlocks(), 24u);
  m.faults->SetSpec(FaultSpec{});
  ASSERT_FALSE(m.cache->Flush(FlushLevel::kStore));
  for (BlockNum b = 0; b < 24; ++b) EXPECT_EQ(Stored(mem, b), Block(b + 7)) << "block " << b;
}

}  // namespace
}  // namespace s3bd
