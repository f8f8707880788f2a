// Lending (BlockStore::ReadShared, what the FUSE front end replies from): a
// cache hit lends the cached block's own buffer (no copy), a miss lends the
// buffer it fetched into; a lent piece keeps the bytes of the time of the
// read while the block is patched in place, rewritten, zeroed, evicted or
// moved to the cache file only, and its buffer is not recycled meanwhile.
// Layers without a cache fall back to a copy; Volume::ReadShared splits a
// range into one piece per block.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "s3bd/cache/block_cache.h"
#include "s3bd/store/memory_store.h"
#include "s3bd/volume/volume.h"
#include "test_util.h"

namespace s3bd {
namespace {

using std::chrono::milliseconds;
constexpr std::size_t kBs = 4096;
constexpr Geometry kGeom{kBs, 256};
using Bytes = std::vector<std::uint8_t>;

Bytes Block(std::uint64_t seed) { return test::RandomBytes(kBs, seed); }

CacheConfig Config() {
  CacheConfig c;
  c.cache_size = 16 * kBs;
  c.threads = 2;
  c.write_delay = milliseconds(3600 * 1000);  // no upload runs unless flushed
  c.read_ahead = 0;
  c.retry_delay = milliseconds(1);
  return c;
}

Bytes Bytes_(const BlockRef& r) { return Bytes(r.data, r.data + r.size); }
Bytes Slice(const Bytes& b, std::size_t off, std::size_t len) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(off), b.begin() + static_cast<std::ptrdiff_t>(off + len));
}

// cache -> memory store, with a handle on the store.
struct Rig {
  explicit Rig(CacheConfig cfg = Config()) {
    auto m = std::make_unique<MemoryStore>(kGeom);
    mem = m.get();
    cache = std::make_unique<BlockCache>(std::move(m), cfg);
  }
  BlockRef Lend(BlockNum b, std::size_t off = 0, std::size_t len = kBs) {
    BlockRef r;
    EXPECT_FALSE(cache->ReadShared(b, off, len, r));
    EXPECT_EQ(r.size, len);
    return r;
  }
  Bytes Read(BlockNum b) {
    Bytes out(kBs);
    EXPECT_FALSE(cache->Read(b, out));
    return out;
  }
  std::uint64_t StoreReads() const { return mem->Stats()[0]["ops"]["read"]["ops"].get<std::uint64_t>(); }
  MemoryStore* mem;
  std::unique_ptr<BlockCache> cache;
};

TEST(BlockCacheLend, AMissLendsTheBufferItFetchedAndAHitLendsTheSameOne) {
  Rig r;
  ASSERT_FALSE(r.mem->Write(7, Block(1)));
  const BlockRef miss = r.Lend(7, 100, 1000);
  EXPECT_EQ(Bytes_(miss), Slice(Block(1), 100, 1000));
  EXPECT_EQ(r.StoreReads(), 1u);
  // A hit: the cached buffer itself, not a copy of it.
  const BlockRef hit = r.Lend(7, 100, 1000);
  EXPECT_EQ(hit.data, miss.data);
  EXPECT_EQ(hit.holder, miss.holder);
  EXPECT_EQ(r.StoreReads(), 1u);
}

TEST(BlockCacheLend, LentPieceKeepsItsBytesWhileTheBlockIsPatchedInPlace) {
  Rig r;
  ASSERT_FALSE(r.cache->Write(3, Block(1)));
  const BlockRef lent = r.Lend(3);
  const Bytes patch = test::RandomBytes(2000, 9);
  ASSERT_FALSE(r.cache->WritePart(3, 50, patch));
  EXPECT_EQ(Bytes_(lent), Block(1));  // as of the read
  Bytes now = Block(1);
  std::memcpy(now.data() + 50, patch.data(), patch.size());
  EXPECT_EQ(r.Read(3), now);
  // The write went to a copy; the lent buffer is no longer the block's.
  EXPECT_NE(r.Lend(3).data, lent.data);
}

TEST(BlockCacheLend, WithNothingLentAPartialWritePatchesInPlace) {
  Rig r;
  ASSERT_FALSE(r.cache->Write(3, Block(1)));
  const std::uint8_t* before;
  {
    const BlockRef lent = r.Lend(3);
    before = lent.data;
  }  // returned: the buffer is the cache's alone again
  ASSERT_FALSE(r.cache->WritePart(3, 10, test::RandomBytes(100, 2)));
  EXPECT_EQ(r.Lend(3).data, before);
}

TEST(BlockCacheLend, LentPieceKeepsItsBytesWhenTheBlockIsRewrittenOrZeroed) {
  Rig r;
  ASSERT_FALSE(r.cache->Write(4, Block(1)));
  const BlockRef first = r.Lend(4, 0, kBs);
  ASSERT_FALSE(r.cache->Write(4, Block(2)));
  const BlockRef second = r.Lend(4, 8, 64);
  ASSERT_FALSE(r.cache->Zero(4));
  EXPECT_EQ(Bytes_(first), Block(1));
  EXPECT_EQ(Bytes_(second), Slice(Block(2), 8, 64));
  EXPECT_EQ(r.Read(4), Bytes(kBs, 0));
  // The zero block is shared: patching it must copy it, the lent one stays.
  const BlockRef zero = r.Lend(4);
  ASSERT_FALSE(r.cache->WritePart(4, 0, test::RandomBytes(10, 3)));
  EXPECT_EQ(Bytes_(zero), Bytes(kBs, 0));
  ASSERT_FALSE(r.cache->WritePart(5, 0, test::RandomBytes(10, 4)));  // another block that was never written
  EXPECT_EQ(Bytes_(zero), Bytes(kBs, 0));
}

TEST(BlockCacheLend, LentPieceOutlivesEvictionAndItsBufferIsNotRecycled) {
  Rig r;  // 16 blocks of memory
  for (BlockNum b = 0; b < 64; ++b) ASSERT_FALSE(r.mem->Write(b, Block(b + 1)));
  const BlockRef lent = r.Lend(0, 0, kBs);
  // Reading 40 other blocks evicts block 0; their fetches take buffers from
  // the pool, which must not include the lent one.
  for (BlockNum b = 1; b <= 40; ++b) ASSERT_EQ(r.Read(b), Block(b + 1));
  EXPECT_GT(r.cache->Stats()[0]["evictions"].get<std::uint64_t>(), 0u);
  const std::uint64_t reads = r.StoreReads();
  EXPECT_EQ(r.Read(0), Block(1));
  EXPECT_EQ(r.StoreReads(), reads + 1) << "block 0 should have been evicted";
  EXPECT_EQ(Bytes_(lent), Block(1));
}

TEST(BlockCacheLend, LentPieceOutlivesAnUploadAndAFlush) {
  Rig r;
  ASSERT_FALSE(r.cache->Write(9, Block(1)));
  const BlockRef lent = r.Lend(9);
  ASSERT_FALSE(r.cache->Flush());
  ASSERT_FALSE(r.cache->WritePart(9, 0, test::RandomBytes(kBs / 2, 5)));
  ASSERT_FALSE(r.cache->Flush());
  EXPECT_EQ(Bytes_(lent), Block(1));
  Bytes stored(kBs);
  ASSERT_FALSE(r.mem->Read(9, stored));
  EXPECT_EQ(Slice(stored, kBs / 2, kBs / 2), Slice(Block(1), kBs / 2, kBs / 2));
  EXPECT_EQ(Slice(stored, 0, kBs / 2), test::RandomBytes(kBs / 2, 5));
}

// A writer patches the block over and over, each time with one byte value
// everywhere it writes; every piece a reader is lent must hold one value
// only (the data as of one moment) and keep it while the writer goes on.
TEST(BlockCacheLend, ConcurrentReadsSeeOneVersionThatStaysPut) {
  Rig r;
  constexpr std::size_t kLen = kBs - 1;  // partial: patched in place when nothing is lent
  ASSERT_FALSE(r.cache->WritePart(1, 0, Bytes(kLen, 0)));
  std::atomic<bool> done{false};
  std::atomic<int> writes{0};
  std::atomic<bool> write_failed{false}, started{false};
  std::thread writer([&] {
    while (!started) std::this_thread::yield();  // until the reader holds its first piece
    for (int i = 1; i <= 3000; ++i) {
      if (r.cache->WritePart(1, 0, Bytes(kLen, static_cast<std::uint8_t>(i)))) {
        write_failed = true;
        break;
      }
      writes = i;
    }
    done = true;
  });
  const auto uniform = [&](const BlockRef& p) {
    for (std::size_t i = 1; i < kLen; ++i) {
      if (p.data[i] != p.data[0]) return false;
    }
    return true;
  };
  int checked = 0;
  do {
    const BlockRef p = r.Lend(1, 0, kLen);
    started = true;
    if (!uniform(p)) {
      ADD_FAILURE() << "a piece mixes two writes";
      break;
    }
    const std::uint8_t value = p.data[0];
    // Let the writer move on by a few writes, then look again.
    const int seen = writes;
    while (!done && writes < seen + 3) std::this_thread::yield();
    if (!uniform(p) || p.data[0] != value) {
      ADD_FAILURE() << "a lent piece changed";
      break;
    }
    ++checked;
  } while (!done);
  writer.join();
  ASSERT_FALSE(write_failed);
  EXPECT_GT(checked, 0);
  EXPECT_EQ(r.Read(1)[0], static_cast<std::uint8_t>(3000 % 256));
}

// The disk tier: a block that leaves memory for the cache file only (and a
// journaled rewrite) leaves the lent buffer as it was.
TEST(BlockCacheLend, LentPieceOutlivesMovingToTheCacheFileOnly) {
  test::TempDir dir;
  CacheConfig cfg = Config();
  cfg.cache_size = 4 * kBs;
  cfg.cache_file_size = 32 * kBs;
  cfg.write_delay = milliseconds(0);
  CacheFileOptions o;
  o.path = dir.path() + "/cache";
  o.volume = "volume test";
  o.geometry = kGeom;
  o.slots = 32;
  auto m = std::make_unique<MemoryStore>(kGeom);
  BlockCache cache(std::move(m), cfg, CacheFile::Open(o));
  for (BlockNum b = 0; b < 16; ++b) ASSERT_FALSE(cache.Write(b, Block(b + 1)));
  ASSERT_FALSE(cache.Flush(FlushLevel::kStore));
  BlockRef lent;
  ASSERT_FALSE(cache.ReadShared(0, 0, kBs, lent));
  EXPECT_EQ(Bytes_(lent), Block(1));
  Bytes out(kBs);
  for (BlockNum b = 1; b < 16; ++b) ASSERT_FALSE(cache.Read(b, out));
  EXPECT_GT(cache.Stats()[0]["cache_file"]["moved_to_file_only"].get<std::uint64_t>(), 0u);
  ASSERT_FALSE(cache.WritePart(0, 0, test::RandomBytes(100, 7)));
  EXPECT_EQ(Bytes_(lent), Block(1));
  ASSERT_FALSE(cache.Read(0, out));
  EXPECT_EQ(Slice(out, 100, kBs - 100), Slice(Block(1), 100, kBs - 100));
  EXPECT_EQ(Slice(out, 0, 100), test::RandomBytes(100, 7));
}

TEST(BlockCacheLend, StoresWithoutACacheLendACopy) {
  MemoryStore mem(kGeom);
  ASSERT_FALSE(mem.Write(2, Block(1)));
  BlockRef whole, part;
  ASSERT_FALSE(mem.ReadShared(2, 0, kBs, whole));
  ASSERT_FALSE(mem.ReadShared(2, 4000, 96, part));
  EXPECT_EQ(Bytes_(whole), Block(1));
  EXPECT_EQ(Bytes_(part), Slice(Block(1), 4000, 96));
  ASSERT_FALSE(mem.Write(2, Block(2)));
  EXPECT_EQ(Bytes_(whole), Block(1));  // a copy of its own
  BlockRef bad;
  EXPECT_EQ(mem.ReadShared(2, 4000, 97, bad), std::errc::invalid_argument);
  EXPECT_EQ(mem.ReadShared(kGeom.num_blocks, 0, 1, bad), std::errc::invalid_argument);
  EXPECT_EQ(bad.data, nullptr);
}

TEST(BlockCacheLend, VolumeLendsOnePiecePerBlockUpToTheEnd) {
  Rig r;
  Volume v(*r.cache);
  Bytes all(kGeom.size());
  for (BlockNum b = 0; b < kGeom.num_blocks; ++b) {
    const Bytes blk = Block(b + 1);
    std::memcpy(all.data() + b * kBs, blk.data(), kBs);
    ASSERT_FALSE(r.mem->Write(b, blk));
  }
  std::vector<BlockRef> pieces;
  ASSERT_FALSE(v.ReadShared(kBs - 10, kBs + 20, pieces));  // tail, whole block, head
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].size, 10u);
  EXPECT_EQ(pieces[1].size, kBs);
  EXPECT_EQ(pieces[2].size, 10u);
  Bytes joined;
  for (const auto& p : pieces) joined.insert(joined.end(), p.data, p.data + p.size);
  EXPECT_EQ(joined, Slice(all, kBs - 10, kBs + 20));
  pieces.clear();
  ASSERT_FALSE(v.ReadShared(kGeom.size() - 5, 100, pieces));  // past the end: cut
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(Bytes_(pieces[0]), Slice(all, kGeom.size() - 5, 5));
  pieces.clear();
  ASSERT_FALSE(v.ReadShared(kGeom.size(), 100, pieces));
  EXPECT_TRUE(pieces.empty());
}

}  // namespace
}  // namespace s3bd
