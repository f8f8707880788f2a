// Seeded random model test: random unaligned reads, writes, zero-writes and
// discards through the Volume (the splitting code the FUSE front end uses),
// checked against a plain byte array.
//
// Multithreaded: the volume is cut into stripes of random, unaligned length
// and each thread works only inside its own stripes, so the model needs no
// locking, yet neighbouring stripes of different threads share blocks and
// any lost read-modify-write update shows up as a mismatch.
//
// Set S3BD_SEED to replay a run; the seed is printed on failure.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <thread>

#include "s3bd/cache/block_cache.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/directory_store.h"
#include "s3bd/store/memory_store.h"
#include "s3bd/volume/volume.h"
#include "s3_test_support.h"
#include "test_util.h"

namespace s3bd {
namespace {

std::uint64_t Seed() {
  if (const char* s = std::getenv("S3BD_SEED")) return std::strtoull(s, nullptr, 0);
  return std::random_device{}();
}

struct Stripe {
  std::uint64_t begin, end;
};

class VolumeModel : public ::testing::TestWithParam<const char*> {
 protected:
  std::unique_ptr<BlockStore> MakeStore(Geometry g, std::uint64_t seed) {
    const std::string kind = GetParam();
    if (kind == "memory") return std::make_unique<MemoryStore>(g);
    if (kind == "cache") {
      // A small cache with a short write delay: evictions, re-uploads and
      // partial writes to uncached blocks all happen.
      CacheConfig c;
      c.cache_size = 12 * g.block_size;
      c.max_dirty = 6 * g.block_size;
      c.threads = 3;
      c.write_delay = std::chrono::milliseconds(1);
      c.read_ahead = 4;
      auto mem = std::make_unique<MemoryStore>(g);
      bottom_ = mem.get();
      return std::make_unique<BlockCache>(std::move(mem), c);
    }
    if (kind == "memory_zstd") return std::make_unique<MemoryStore>(g, test::CodecOptions(g.block_size, test::kZstd));
    if (kind == "memory_deflate1") {
      return std::make_unique<MemoryStore>(g, test::CodecOptions(g.block_size, test::kDeflate1));
    }
    if (kind == "memory_encrypted") return std::make_unique<MemoryStore>(g, test::CodecOptions(g.block_size, {}, true));
    if (kind == "memory_zstd_encrypted") {
      return std::make_unique<MemoryStore>(g, test::CodecOptions(g.block_size, test::kZstd, true));
    }
    if (kind == "map_new") {
      // A new volume: the block map over an empty store, surveyed first;
      // no cache, so partial writes and discards reach the map.
      auto map = std::make_unique<BlockMapStore>(std::make_unique<MemoryStore>(g));
      EXPECT_FALSE(map->RunSurvey());
      return map;
    }
    if (kind == "map_surveying") {
      // An existing volume: the real stack's order (cache over the map over
      // the store), a store that holds data, and the survey running in the
      // background while the workers read, write and discard.
      auto mem = std::make_unique<MemoryStore>(g);
      initial_.assign(g.size(), 0);
      std::mt19937_64 rng(seed + 1);
      for (BlockNum b = 0; b < g.num_blocks; ++b) {
        if (rng() % 2 == 0) continue;
        const auto data = test::RandomBytes(g.block_size, rng());
        EXPECT_FALSE(mem->Write(b, data));
        std::copy(data.begin(), data.end(), initial_.begin() + static_cast<std::ptrdiff_t>(b * g.block_size));
      }
      bottom_ = mem.get();
      auto map = std::make_unique<BlockMapStore>(std::move(mem));
      map->StartSurvey();
      CacheConfig c;
      c.cache_size = 12 * g.block_size;
      c.max_dirty = 6 * g.block_size;
      c.threads = 3;
      c.write_delay = std::chrono::milliseconds(1);
      return std::make_unique<BlockCache>(std::move(map), c);
    }
    auto dir = std::make_unique<DirectoryStore>(Directory::Open(dir_.path(), false), g);
    if (kind == "directory_zstd_encrypted") return test::CodecBlocks(std::move(dir), test::kZstd, true);
#ifdef S3BD_HAVE_TEST_S3SERVER
    if (kind == "s3_zstd_encrypted") return test::CodecBlocks(test::MakeTestS3Objects(g, false), test::kZstd, true);
#endif
    EXPECT_EQ(kind, "directory");
    return test::RawBlocks(std::move(dir));
  }
  // The model's starting content: zeros unless the store began with data.
  std::vector<std::uint8_t> Initial(const Geometry& g) const {
    return initial_.empty() ? std::vector<std::uint8_t>(g.size(), 0) : initial_;
  }
  test::TempDir dir_;
  std::vector<std::uint8_t> initial_;
  BlockStore* bottom_ = nullptr;  // the store under a cache, if any
};

// One thread's random operations inside its stripes.
void Worker(Volume& vol, std::vector<std::uint8_t>& model, const std::vector<Stripe>& stripes,
            std::uint64_t seed, int ops, std::string& failure) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> buf;
  for (int i = 0; i < ops && failure.empty(); ++i) {
    const Stripe& s = stripes[rng() % stripes.size()];
    const std::uint64_t off = s.begin + rng() % (s.end - s.begin);
    const std::uint64_t len = 1 + rng() % (s.end - off);
    buf.resize(len);
    std::size_t done = 0;
    switch (rng() % 4) {
      case 0: {  // read
        if (auto ec = vol.Read(off, buf, done); ec || done != len) {
          failure = "read failed at " + std::to_string(off);
        } else if (!std::equal(buf.begin(), buf.end(), model.begin() + off)) {
          failure = "read mismatch at " + std::to_string(off) + "+" + std::to_string(len);
        }
        break;
      }
      case 1: {  // write random data
        for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
        if (auto ec = vol.Write(off, buf, done); ec || done != len) failure = "write failed";
        std::copy(buf.begin(), buf.end(), model.begin() + off);
        break;
      }
      case 2: {  // write zeros
        std::fill(buf.begin(), buf.end(), 0);
        if (auto ec = vol.Write(off, buf, done); ec || done != len) failure = "zero write failed";
        std::fill(model.begin() + off, model.begin() + off + len, 0);
        break;
      }
      case 3: {  // discard
        if (vol.ZeroRange(off, len)) failure = "discard failed";
        std::fill(model.begin() + off, model.begin() + off + len, 0);
        break;
      }
    }
  }
}

TEST_P(VolumeModel, RandomConcurrentOpsMatchModel) {
  const std::uint64_t seed = Seed();
  SCOPED_TRACE("S3BD_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Geometry g{4096, 96};
  auto store = MakeStore(g, seed);
  Volume vol(*store);
  std::vector<std::uint8_t> model = Initial(g);

  constexpr int kThreads = 4;
  std::vector<std::vector<Stripe>> stripes(kThreads);
  for (std::uint64_t pos = 0, i = 0; pos < g.size(); ++i) {
    const std::uint64_t len = std::min<std::uint64_t>(1 + rng() % (3 * g.block_size), g.size() - pos);
    stripes[i % kThreads].push_back({pos, pos + len});
    pos += len;
  }
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    if (stripes[t].empty()) continue;
    threads.emplace_back(Worker, std::ref(vol), std::ref(model), std::cref(stripes[t]), rng(), 1500,
                         std::ref(failures[t]));
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) ASSERT_EQ(f, "");

  std::vector<std::uint8_t> all(g.size());
  std::size_t done = 0;
  ASSERT_FALSE(vol.Read(0, all, done));
  ASSERT_EQ(done, g.size());
  for (std::uint64_t i = 0; i < g.size(); ++i) {
    ASSERT_EQ(all[i], model[i]) << "first difference at byte " << i;
  }
  // Blocks the model holds no data in are not stored.
  std::size_t stored = 0;
  ASSERT_FALSE(store->ListNonZero([&](BlockNum b) {
    ++stored;
    EXPECT_FALSE(IsAllZero({model.data() + b * g.block_size, g.block_size})) << "zero block " << b << " stored";
  }));
  ASSERT_FALSE(vol.Flush());
  // After a flush the store below a cache holds exactly the model.
  if (bottom_ != nullptr) {
    std::vector<std::uint8_t> block(g.block_size);
    for (BlockNum b = 0; b < g.num_blocks; ++b) {
      ASSERT_FALSE(bottom_->Read(b, block));
      ASSERT_TRUE(std::equal(block.begin(), block.end(), model.begin() + b * g.block_size))
          << "stored block " << b << " differs from the model";
    }
  }
}

TEST_P(VolumeModel, RandomOverlappingOpsSingleThread) {
  const std::uint64_t seed = Seed();
  SCOPED_TRACE("S3BD_SEED=" + std::to_string(seed));
  const Geometry g{4096, 40};
  auto store = MakeStore(g, seed);
  Volume vol(*store);
  std::vector<std::uint8_t> model = Initial(g);
  std::string failure;
  Worker(vol, model, {{0, g.size()}}, seed, 2000, failure);
  ASSERT_EQ(failure, "");
}

const char* const kModelStores[] = {
    "memory", "directory", "cache",
    // The block map: a new volume, and an existing one surveyed while in use.
    "map_new", "map_surveying",
    // Codec stacks: compressed, encrypted, both.
    "memory_zstd", "memory_deflate1", "memory_encrypted", "memory_zstd_encrypted", "directory_zstd_encrypted",
#ifdef S3BD_HAVE_TEST_S3SERVER
    "s3_zstd_encrypted",
#endif
};
INSTANTIATE_TEST_SUITE_P(Stores, VolumeModel, ::testing::ValuesIn(kModelStores),
                         [](const auto& param_info) { return std::string(param_info.param); });

}  // namespace
}  // namespace s3bd
