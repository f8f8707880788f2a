// The BlockStore base class's counters: every operation a layer serves is
// counted exactly once, at that layer. Partial-block reads and writes (what
// the Volume sends for unaligned requests) count as reads and writes with
// the bytes asked for; the default read-modify-write of a partial write does
// not count a second time as a read and a write of the same layer, and the
// default revalidation does not count as a read.
#include "s3bd/core/block_store.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "s3bd/cache/block_cache.h"
#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 16};

struct Count {
  std::uint64_t ops = 0, bytes = 0, errors = 0;
  bool operator==(const Count&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Count& c) {
  return os << c.ops << " ops, " << c.bytes << " bytes, " << c.errors << " errors";
}

std::string Stats(const BlockStore& s) {
  std::ostringstream os;
  s.PrintStats(os);
  return os.str();
}

// The counter line `op` of section `section` ("[section]" ... "  op  N ops  B bytes  E errors").
Count Counter(const BlockStore& s, const std::string& section, const std::string& op) {
  const std::string text = Stats(s);
  const auto at = text.find("[" + section + "]\n");
  EXPECT_NE(at, std::string::npos) << text;
  const std::regex line("\n  " + op + " +([0-9]+) ops +([0-9]+) bytes +([0-9]+) errors");
  std::smatch m;
  const std::string rest = text.substr(at);
  if (!std::regex_search(rest, m, line)) {
    ADD_FAILURE() << "no " << op << " line in [" << section << "]: " << text;
    return {};
  }
  return {std::stoull(m[1]), std::stoull(m[2]), std::stoull(m[3])};
}

std::uint64_t Number(const BlockStore& s, const std::string& pattern) {
  std::smatch m;
  const std::string text = Stats(s);
  if (!std::regex_search(text, m, std::regex(pattern))) {
    ADD_FAILURE() << "no match for " << pattern << " in " << text;
    return 0;
  }
  return std::stoull(m[1]);
}

TEST(BlockStoreCounters, PartialOpsCountOnceWithTheirBytes) {
  MemoryStore store(kGeom);
  const auto block = test::RandomBytes(kGeom.block_size, 1);
  ASSERT_FALSE(store.Write(1, block));
  std::vector<std::uint8_t> out(kGeom.block_size);

  ASSERT_FALSE(store.ReadPart(1, 100, std::span(out).first(10)));
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 10, block.begin() + 100));
  EXPECT_EQ(Counter(store, "codec", "read"), (Count{1, 10, 0}));

  // A read-modify-write is one write of this layer, not also a read.
  const auto patch = test::RandomBytes(512, 2);
  ASSERT_FALSE(store.WritePart(1, 1000, patch));
  EXPECT_EQ(Counter(store, "codec", "read"), (Count{1, 10, 0}));
  EXPECT_EQ(Counter(store, "codec", "write"), (Count{2, 4096 + 512, 0}));

  // Whole blocks through the partial entry points count as whole blocks.
  ASSERT_FALSE(store.ReadPart(1, 0, out));
  EXPECT_TRUE(std::equal(patch.begin(), patch.end(), out.begin() + 1000));
  EXPECT_EQ(Counter(store, "codec", "read"), (Count{2, 10 + 4096, 0}));

  // Zeros written into a block that is all zeros keep it unstored (the
  // store sees a Zero, never all-zero data); it is still one write.
  const std::vector<std::uint8_t> zeros(100, 0);
  ASSERT_FALSE(store.WritePart(5, 0, zeros));
  EXPECT_EQ(store.StoredBlocks(), 1u);
  EXPECT_EQ(Counter(store, "codec", "write"), (Count{3, 4096 + 512 + 100, 0}));
  EXPECT_EQ(Counter(store, "codec", "zero"), (Count{0, 0, 0}));
  EXPECT_EQ(Counter(store, "codec", "read"), (Count{2, 10 + 4096, 0}));

  // Bad arguments are counted as failed operations.
  EXPECT_TRUE(store.ReadPart(kGeom.num_blocks, 0, std::span(out).first(1)));
  EXPECT_TRUE(store.WritePart(1, 4000, patch));
  EXPECT_EQ(Counter(store, "codec", "read"), (Count{3, 10 + 4096, 1}));
  EXPECT_EQ(Counter(store, "codec", "write"), (Count{4, 4096 + 512 + 100, 1}));
}

TEST(BlockStoreCounters, RevalidationIsNotAlsoARead) {
  MemoryStore store(kGeom);
  ASSERT_FALSE(store.Write(2, test::RandomBytes(kGeom.block_size, 3)));
  std::vector<std::uint8_t> out(kGeom.block_size);
  bool fresh = false;
  ObjectVersion now;
  ASSERT_FALSE(store.Revalidate(2, ObjectVersion{}, out, &fresh, &now));
  EXPECT_TRUE(fresh);
  EXPECT_EQ(out, test::RandomBytes(kGeom.block_size, 3));
  EXPECT_EQ(Counter(store, "codec", "revalid"), (Count{1, 0, 0}));
  EXPECT_EQ(Counter(store, "codec", "read"), (Count{0, 0, 0}));
}

// The cache serves partial reads and writes itself: they are its reads and
// writes, each one lookup (a hit or a miss); the store below sees only the
// whole-block loads and uploads.
TEST(BlockStoreCounters, CacheCountsThePartialOpsItServes) {
  auto mem = std::make_unique<MemoryStore>(kGeom);
  MemoryStore* m = mem.get();
  ASSERT_FALSE(m->Write(3, test::RandomBytes(kGeom.block_size, 4)));
  CacheConfig cfg;
  cfg.cache_size = 8 * kGeom.block_size;
  cfg.threads = 2;
  cfg.read_ahead = 0;
  cfg.write_delay = std::chrono::hours(1);
  BlockCache cache(std::move(mem), cfg);

  std::vector<std::uint8_t> out(kGeom.block_size);
  for (std::size_t i = 0; i < 5; ++i) ASSERT_FALSE(cache.ReadPart(3, i * 512, std::span(out).first(512)));
  ASSERT_FALSE(cache.Read(3, out));
  const auto patch = test::RandomBytes(100, 5);
  ASSERT_FALSE(cache.WritePart(3, 7, patch));  // a hit
  ASSERT_FALSE(cache.WritePart(4, 7, patch));  // a miss: loads block 4
  ASSERT_FALSE(cache.Write(6, test::RandomBytes(kGeom.block_size, 6)));  // no lookup

  EXPECT_EQ(Counter(cache, "cache", "read"), (Count{6, 5 * 512 + 4096, 0}));
  EXPECT_EQ(Counter(cache, "cache", "write"), (Count{3, 100 + 100 + 4096, 0}));
  const std::uint64_t hits = Number(cache, R"(hits / misses +([0-9]+) /)");
  const std::uint64_t misses = Number(cache, R"(hits / misses +[0-9]+ / ([0-9]+))");
  EXPECT_EQ(hits, 6u);
  EXPECT_EQ(misses, 2u);
  EXPECT_EQ(hits + misses, Counter(cache, "cache", "read").ops + 2);  // + the two partial writes

  ASSERT_FALSE(cache.Flush());
  EXPECT_EQ(Counter(cache, "codec", "read"), (Count{2, 2 * 4096, 0}));  // blocks 3 and 4, once each
  EXPECT_EQ(Counter(cache, "codec", "write"), (Count{1 + 3, 4 * 4096, 0}));  // ours, then 3, 4 and 6
}

}  // namespace
}  // namespace s3bd
