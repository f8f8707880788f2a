// The block cache's state transitions (see the table in block_cache.h):
// hits and misses, write-back and flush, rewrite during upload, failed
// uploads, eviction while dirty, back-pressure, flush racing writes,
// read-ahead, and reads never waiting behind write-back. Stores below are in
// memory; a GateStore holds uploads at a known point instead of sleeping.
#include "s3bd/cache/block_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <future>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "gate_store.h"
#include "s3bd/store/fault_store.h"
#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

using std::chrono::milliseconds;
constexpr Geometry kGeom{4096, 256};

// cache -> gate -> faults -> memory, with handles on each.
struct Stack {
  explicit Stack(CacheConfig cfg, std::shared_ptr<CacheClock> clock = nullptr) {
    auto m = std::make_unique<MemoryStore>(kGeom);
    mem = m.get();
    auto f = std::make_unique<FaultStore>(std::move(m), FaultSpec{});
    faults = f.get();
    auto g = std::make_unique<test::GateStore>(std::move(f));
    gate = g.get();
    cache = std::make_unique<BlockCache>(std::move(g), cfg, nullptr, std::move(clock));
  }
  std::vector<std::uint8_t> Stored(BlockNum b) {
    std::vector<std::uint8_t> out(kGeom.block_size);
    EXPECT_FALSE(mem->Read(b, out));
    return out;
  }
  std::string Stats() {
    std::ostringstream os;
    cache->PrintStats(os);
    return os.str();
  }
  MemoryStore* mem;
  FaultStore* faults;
  test::GateStore* gate;
  std::unique_ptr<BlockCache> cache;
};

CacheConfig Config(milliseconds write_delay = milliseconds(3600 * 1000)) {
  CacheConfig c;
  c.cache_size = 64 * kGeom.block_size;
  c.threads = 4;
  c.write_delay = write_delay;
  c.read_ahead = 0;
  c.retry_delay = milliseconds(1);
  return c;
}

std::vector<std::uint8_t> Block(std::uint64_t seed) { return test::RandomBytes(kGeom.block_size, seed); }

std::uint64_t Counter(const std::string& stats, const std::string& section, const std::string& op) {
  // "[section]" ... "  op   N ops"
  auto at = stats.find("[" + section + "]");
  at = stats.find("  " + op + " ", at);
  return std::stoull(stats.substr(stats.find_first_not_of(' ', at + op.size() + 2)));
}

TEST(BlockCache, MissThenHit) {
  Stack s(Config());
  ASSERT_FALSE(s.mem->Write(5, Block(1)));
  std::vector<std::uint8_t> out(kGeom.block_size);
  ASSERT_FALSE(s.cache->Read(5, out));
  ASSERT_FALSE(s.cache->Read(5, out));
  ASSERT_FALSE(s.cache->ReadPart(5, 100, std::span(out).first(10)));
  EXPECT_EQ(Counter(s.Stats(), "memory", "read"), 1u) << s.Stats();
  EXPECT_NE(s.Stats().find("hits / misses     2 / 1"), std::string::npos) << s.Stats();
}

TEST(BlockCache, WriteIsNotStoredUntilFlush) {
  Stack s(Config());
  ASSERT_FALSE(s.cache->Write(3, Block(2)));
  std::vector<std::uint8_t> out(kGeom.block_size);
  ASSERT_FALSE(s.cache->Read(3, out));
  EXPECT_EQ(out, Block(2));
  EXPECT_EQ(s.mem->StoredBlocks(), 0u);  // the write delay is an hour
  EXPECT_EQ(s.cache->DirtyBlocks(), 1u);
  ASSERT_FALSE(s.cache->Flush());
  EXPECT_EQ(s.Stored(3), Block(2));
  EXPECT_EQ(s.cache->DirtyBlocks(), 0u);
}

TEST(BlockCache, WriteDuringUploadIsUploadedAgain) {
  Stack s(Config());
  ASSERT_FALSE(s.cache->Write(7, Block(1)));
  s.gate->Close();
  auto flush = std::async(std::launch::async, [&] { return s.cache->Flush(); });
  s.gate->WaitForWaiting(1);  // the upload of version 1 is in flight
  ASSERT_FALSE(s.cache->Write(7, Block(2)));
  s.gate->Open();
  EXPECT_FALSE(flush.get());   // covers version 1 only
  ASSERT_FALSE(s.cache->Flush());  // covers version 2
  EXPECT_EQ(s.Stored(7), Block(2));
  EXPECT_NE(s.Stats().find("1 again after a rewrite"), std::string::npos) << s.Stats();
}

TEST(BlockCache, ConstantlyRewrittenBlockIsNotStarved) {
  Stack s(Config(milliseconds(5)));
  // Keep rewriting one block, with no flush; it must reach the store anyway.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::uint64_t i = 0;
  while (s.mem->StoredBlocks() == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "block never uploaded";
    auto b = Block(++i);
    ASSERT_FALSE(s.cache->WritePart(9, 0, std::span(b).first(512)));
  }
  EXPECT_GT(i, 0u);
}

TEST(BlockCache, HotBlockWaitsLongerAndCoolsDown) {
  // On a hand-driven clock: 100 ms delay, doubled for a block rewritten
  // within its delay after an upload.
  auto clock = std::make_shared<ManualClock>();
  CacheConfig cfg = Config(milliseconds(100));
  cfg.write_delay_max = milliseconds(10000);
  Stack s(cfg, clock);
  // Until the cache itself has seen upload n end and the block is clean
  // (the store's counter moves before the upload worker is back).
  const auto uploads_reach = [&](std::uint64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      const StatsJson c = s.cache->Stats()[0];
      if (c["uploads_ok"].get<std::uint64_t>() >= n && c["dirty_blocks"] == 0) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << s.Stats();
      std::this_thread::yield();
    }
  };
  ASSERT_FALSE(s.cache->Write(9, Block(1)));
  clock->Advance(milliseconds(100));
  uploads_reach(1);
  EXPECT_EQ(Counter(s.Stats(), "memory", "write"), 1u);
  EXPECT_NE(s.Stats().find(" 0 heat-ups"), std::string::npos) << s.Stats();
  // Rewritten at once: hot (200 ms now).
  ASSERT_FALSE(s.cache->Write(9, Block(2)));
  EXPECT_NE(s.Stats().find(" 1 heat-ups"), std::string::npos) << s.Stats();
  clock->Advance(milliseconds(200));
  uploads_reach(2);
  EXPECT_EQ(s.Stored(9), Block(2));
  // Not written for longer than its delay: it cools down, no heat-up.
  clock->Advance(milliseconds(1000));
  ASSERT_FALSE(s.cache->Write(9, Block(3)));
  EXPECT_NE(s.Stats().find(" 1 heat-ups"), std::string::npos) << s.Stats();
  clock->Advance(milliseconds(100));
  uploads_reach(3);
  EXPECT_EQ(s.Stored(9), Block(3));
}

TEST(BlockCache, ZeroWriteDelayStaysZeroForHotBlocks) {
  // --write-delay 0 means "upload at once", hot or not: the block is
  // uploaded again while it keeps being rewritten.
  Stack s(Config(milliseconds(0)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::uint64_t i = 0;
  while (Counter(s.Stats(), "memory", "write") < 20) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << s.Stats();
    auto b = Block(++i);
    ASSERT_FALSE(s.cache->WritePart(9, 0, std::span(b).first(512)));
  }
}

TEST(BlockCache, ReadAheadWindowIsAtMostAQuarterOfTheCache) {
  // A 64-block window in a 16-block cache would evict what was just read.
  CacheConfig cfg = Config();
  cfg.cache_size = 16 * kGeom.block_size;
  cfg.read_ahead = 64;
  Stack small(cfg);
  EXPECT_NE(small.Stats().find("(window up to 4 blocks)"), std::string::npos) << small.Stats();
  cfg.cache_size = 1024 * kGeom.block_size;
  Stack big(cfg);
  EXPECT_NE(big.Stats().find("(window up to 64 blocks)"), std::string::npos) << big.Stats();
}

TEST(BlockCache, FailedUploadKeepsDataAndFlushReportsIt) {
  Stack s(Config());
  ASSERT_FALSE(s.cache->Write(4, Block(3)));
  FaultSpec fail;
  fail.write = 1;
  s.faults->SetSpec(fail);
  EXPECT_EQ(s.cache->Flush(), std::errc::io_error);
  EXPECT_EQ(s.cache->DirtyBlocks(), 1u);
  std::vector<std::uint8_t> out(kGeom.block_size);
  ASSERT_FALSE(s.cache->Read(4, out));
  EXPECT_EQ(out, Block(3));  // still readable from the cache
  s.faults->SetSpec({});
  ASSERT_FALSE(s.cache->Flush());
  EXPECT_EQ(s.Stored(4), Block(3));
}

TEST(BlockCache, DirtyBlocksAreNotEvicted) {
  CacheConfig cfg = Config();
  cfg.cache_size = 4 * kGeom.block_size;
  cfg.max_dirty = 4 * kGeom.block_size;
  Stack s(cfg);
  for (BlockNum b = 0; b < 4; ++b) ASSERT_FALSE(s.cache->Write(b, Block(b + 10)));
  std::vector<std::uint8_t> out(kGeom.block_size);
  for (BlockNum b = 100; b < 120; ++b) ASSERT_FALSE(s.cache->Read(b, out));  // would evict
  EXPECT_EQ(s.cache->DirtyBlocks(), 4u);
  ASSERT_FALSE(s.cache->Flush());
  for (BlockNum b = 0; b < 4; ++b) EXPECT_EQ(s.Stored(b), Block(b + 10));
  // Clean blocks are evicted down to the capacity.
  for (BlockNum b = 100; b < 120; ++b) ASSERT_FALSE(s.cache->Read(b, out));
  EXPECT_LE(s.cache->CachedBlocks(), 4u);
}

TEST(BlockCache, BackPressureWaitsForUploadsInsteadOfFailing) {
  CacheConfig cfg = Config(milliseconds(0));
  cfg.max_dirty = 2 * kGeom.block_size;
  Stack s(cfg);
  s.gate->Close();
  ASSERT_FALSE(s.cache->Write(1, Block(1)));
  ASSERT_FALSE(s.cache->Write(2, Block(2)));
  s.gate->WaitForWaiting(2);
  auto third = std::async(std::launch::async, [&] { return s.cache->Write(3, Block(3)); });
  // The third write is blocked while both uploads are held.
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (s.Stats().find("back-pressure     0 waits") != std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::yield();
  }
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  s.gate->Open();
  EXPECT_FALSE(third.get());
  ASSERT_FALSE(s.cache->Flush());
  EXPECT_EQ(s.Stored(3), Block(3));
}

TEST(BlockCache, ReadMissDoesNotWaitBehindWriteBack) {
  Stack s(Config(milliseconds(0)));
  ASSERT_FALSE(s.mem->Write(50, Block(50)));
  s.gate->Close();
  ASSERT_FALSE(s.cache->Write(1, Block(1)));
  s.gate->WaitForWaiting(1);  // write-back is stuck
  std::vector<std::uint8_t> out(kGeom.block_size);
  ASSERT_FALSE(s.cache->Read(50, out));  // would hang if reads queued behind uploads
  EXPECT_EQ(out, Block(50));
  s.gate->Open();
  ASSERT_FALSE(s.cache->Flush());
}

TEST(BlockCache, WhileAReadWaitsOnlyAQuarterOfTheUploadsRun) {
  CacheConfig cfg = Config(milliseconds(0));
  cfg.threads = 8;  // a quarter: 2
  Stack s(cfg);
  ASSERT_FALSE(s.mem->Write(50, Block(50)));
  s.gate->CloseReads();
  std::vector<std::uint8_t> out(kGeom.block_size);
  auto read = std::async(std::launch::async, [&] { return s.cache->Read(50, out); });
  s.gate->WaitForReading(1);  // a reader waits for its block
  s.gate->Close();
  for (BlockNum b = 0; b < 6; ++b) ASSERT_FALSE(s.cache->Write(b, Block(b)));
  // Six uploads are due and eight workers idle, but only two may start.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (s.Stats().find("uploads held back 0 times") != std::string::npos || s.gate->waiting() < 2) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << s.Stats();
    std::this_thread::yield();
  }
  EXPECT_EQ(s.gate->waiting(), 2) << s.Stats();
  // Once the read is served, the others go.
  s.gate->OpenReads();
  ASSERT_FALSE(read.get());
  EXPECT_EQ(out, Block(50));
  s.gate->WaitForWaiting(6);
  s.gate->Open();
  ASSERT_FALSE(s.cache->Flush());
  for (BlockNum b = 0; b < 6; ++b) EXPECT_EQ(s.Stored(b), Block(b));
}

TEST(BlockCache, PartialWriteToUncachedBlockFetchesOnce) {
  Stack s(Config());
  ASSERT_FALSE(s.mem->Write(8, Block(8)));
  const std::vector<std::uint8_t> patch(10, 0x5a);
  ASSERT_FALSE(s.cache->WritePart(8, 100, patch));
  ASSERT_FALSE(s.cache->WritePart(8, 200, patch));
  EXPECT_EQ(Counter(s.Stats(), "memory", "read"), 1u);
  ASSERT_FALSE(s.cache->Flush());
  auto want = Block(8);
  std::memcpy(want.data() + 100, patch.data(), 10);
  std::memcpy(want.data() + 200, patch.data(), 10);
  EXPECT_EQ(s.Stored(8), want);
}

TEST(BlockCache, ZeroedBlockIsDeletedNotStored) {
  Stack s(Config());
  ASSERT_FALSE(s.mem->Write(6, Block(6)));
  ASSERT_FALSE(s.cache->Zero(6));
  std::vector<BlockNum> listed;
  ASSERT_FALSE(s.cache->ListNonZero([&](BlockNum b) { listed.push_back(b); }));
  EXPECT_TRUE(listed.empty());  // decided by the dirty cached data
  ASSERT_FALSE(s.cache->Flush());
  EXPECT_EQ(s.mem->StoredBlocks(), 0u);
  // A partial write into a zeroed block does not change the shared zero block.
  const std::vector<std::uint8_t> one(1, 1);
  ASSERT_FALSE(s.cache->WritePart(6, 0, one));
  std::vector<std::uint8_t> out(kGeom.block_size);
  ASSERT_FALSE(s.cache->Read(7, out));  // never written
  EXPECT_TRUE(IsAllZero(out));
  ASSERT_FALSE(s.cache->Zero(7));
  ASSERT_FALSE(s.cache->Read(7, out));
  EXPECT_TRUE(IsAllZero(out));
}

TEST(BlockCache, FlushRacingWritesCoversEveryEarlierWrite) {
  Stack s(Config(milliseconds(2)));
  constexpr int kWriters = 3, kBlocks = 16;
  std::atomic<bool> stop{false};
  // completed[b] = highest version of block b whose Write() has returned.
  std::array<std::atomic<std::uint64_t>, kBlocks> completed{};
  std::vector<std::thread> writers;
  std::atomic<std::uint64_t> next_version{1};
  std::array<std::mutex, kBlocks> block_locks;  // the Volume's role: one writer per block
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      while (!stop) {
        const int b = static_cast<int>(rng() % kBlocks);
        std::lock_guard lock(block_locks[b]);
        const std::uint64_t v = next_version++;
        std::vector<std::uint8_t> data(kGeom.block_size, 1);
        std::memcpy(data.data(), &v, sizeof v);
        ASSERT_FALSE(s.cache->Write(b, data));
        completed[b] = v;
      }
    });
  }
  for (int round = 0; round < 30; ++round) {
    std::array<std::uint64_t, kBlocks> before;
    for (int b = 0; b < kBlocks; ++b) before[b] = completed[b];
    ASSERT_FALSE(s.cache->Flush());
    for (int b = 0; b < kBlocks; ++b) {
      std::uint64_t stored = 0;
      auto data = s.Stored(b);
      std::memcpy(&stored, data.data(), sizeof stored);
      ASSERT_GE(stored, before[b]) << "block " << b << " round " << round;
    }
  }
  stop = true;
  for (auto& t : writers) t.join();
}

TEST(BlockCache, SequentialReadsPrefetchRandomReadsDoNot) {
  CacheConfig cfg = Config();
  cfg.read_ahead = 8;
  cfg.read_ahead_trigger = 2;
  {
    Stack s(cfg);
    std::vector<std::uint8_t> out(kGeom.block_size);
    for (BlockNum b = 0; b < 40; ++b) ASSERT_FALSE(s.cache->Read(b, out));
    const std::string st = s.Stats();
    EXPECT_EQ(st.find("read-ahead        0 issued"), std::string::npos) << st;
  }
  {
    Stack s(cfg);
    std::vector<std::uint8_t> out(kGeom.block_size);
    std::mt19937_64 rng(3);
    for (int i = 0; i < 40; ++i) ASSERT_FALSE(s.cache->Read((rng() % 100) * 2, out));  // never adjacent
    EXPECT_NE(s.Stats().find("read-ahead        0 issued"), std::string::npos) << s.Stats();
  }
}

// Scan resistance (eviction_policy.h): a working set the size of the cache,
// read twice in order, with read-ahead running past its end. Plain LRU
// evicted the set's first blocks for the read-ahead, and then every block
// of the next pass just before it was needed: each pass missed every block.
TEST(BlockCache, WorkingSetOfTheCachesSizeStaysThroughReadAheadPastItsEnd) {
  CacheConfig cfg = Config();
  cfg.cache_size = 64 * kGeom.block_size;
  cfg.read_ahead = 16;
  Stack s(cfg);
  for (BlockNum b = 0; b < 96; ++b) ASSERT_FALSE(s.mem->Write(b, Block(b)));
  std::vector<std::uint8_t> out(kGeom.block_size);
  const auto pass = [&] {
    s.gate->CountReadsBelow(64);
    for (BlockNum b = 0; b < 64; ++b) {
      EXPECT_FALSE(s.cache->Read(b, out));
      EXPECT_EQ(out, Block(b)) << "block " << b;
    }
    // Let the read-ahead past the end finish (it is what pushes blocks out).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      const StatsJson c = s.cache->Stats()[0];
      if (c["read_ahead_queued"] == 0 && c["loading_blocks"] == 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "read-ahead never finished: " << s.Stats();
        break;
      }
      std::this_thread::yield();
    }
    return s.gate->counted_reads();
  };
  std::uint64_t first = 0, second = 0, third = 0;
  first = pass();
  EXPECT_EQ(first, 64u);  // cold
  second = pass();
  third = pass();
  // The second pass refetches what the first pass's read-ahead displaced
  // (one window), and the few blocks pushed out while the first pass's
  // read-ahead window was still live (a stream stays live for 4 moves);
  // later passes fetch nothing.
  std::cout << "second pass fetched " << second << " of 64 blocks, third " << third << "\n";
  EXPECT_LE(second, 16u + 8u) << s.Stats();
  EXPECT_EQ(third, 0u) << s.Stats();
}

// A stream four times the cache's size still streams: after the first
// blocks, read-ahead brought in almost every block before it was read
// (scan resistance must not give up read-ahead blocks a live stream will
// read next).
TEST(BlockCache, LongSequentialReadStillStreamsWithReadAhead) {
  CacheConfig cfg = Config();
  cfg.cache_size = 32 * kGeom.block_size;
  cfg.read_ahead = 8;
  Stack s(cfg);
  for (BlockNum b = 0; b < 128; ++b) ASSERT_FALSE(s.mem->Write(b, Block(b)));
  s.gate->CountReadsBelow(128);
  std::vector<std::uint8_t> out(kGeom.block_size);
  for (BlockNum b = 0; b < 128; ++b) {
    ASSERT_FALSE(s.cache->Read(b, out));
    ASSERT_EQ(out, Block(b)) << "block " << b;
  }
  const StatsJson c = s.cache->Stats()[0];
  // Every block is read from the store once: read ahead or missed.
  EXPECT_EQ(s.gate->counted_reads(), 128u) << s.Stats();
  // Read-ahead fetches run in parallel with the reads: whether one finished
  // before its block was read is timing, but none is given up unread.
  EXPECT_EQ(c["read_ahead_skipped_unread_before"], 0) << s.Stats();
  EXPECT_EQ(c["hits"].get<std::uint64_t>() + c["misses"].get<std::uint64_t>(), 128u) << s.Stats();
}

}  // namespace
}  // namespace s3bd
