// Online resize (BlockStore::Resize of every layer, volume/resize.h): new
// blocks read as zeros and are writable, blocks past the end are out of
// range before a grow and after a shrink; a shrink is refused while a block
// at or past the new end holds data (stored, or dirty in the cache) and
// allowed over an empty tail, dropping the cache's copies there; the block
// map follows (new blocks known absent once surveyed, counts stay right
// across shrink and grow); the volume metadata is the commit point: when its
// write fails every layer keeps the old size, when it succeeds everything
// else in it (id, checksums) is kept, and a layer that cannot follow after
// it puts the old size back; read-only and s3backer stacks refuse.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "s3bd/cache/block_cache.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/core/stack.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/memory_store.h"
#include "s3bd/volume/fenced_store.h"
#include "s3bd/volume/lease.h"
#include "s3bd/volume/resize.h"
#include "s3bd/volume/volume.h"
#include "test_util.h"

namespace s3bd {
namespace {

using State = BlockMapStore::State;
constexpr std::uint64_t kBs = 4096;

std::vector<std::uint8_t> Zeros() { return std::vector<std::uint8_t>(kBs, 0); }
std::vector<std::uint8_t> Data(std::uint64_t seed) { return test::RandomBytes(kBs, seed); }

// The top and the block map layer of a stack, with their numbers of blocks
// (the cache in between shows its own by accepting the blocks: the tests
// write and read them through the top).
std::vector<std::uint64_t> LayerBlocks(const Stack& s) {
  std::vector<std::uint64_t> out;
  out.push_back(s.top->geometry().num_blocks);
  if (s.map) out.push_back(s.map->geometry().num_blocks);
  return out;
}

TEST(Resize, MemoryStoreGrowsAndShrinks) {
  MemoryStore mem(Geometry{kBs, 8});
  std::vector<std::uint8_t> buf(kBs, 0xee);
  EXPECT_EQ(mem.Read(8, buf), std::errc::invalid_argument);
  EXPECT_EQ(mem.Write(9, Data(1)), std::errc::invalid_argument);
  ASSERT_FALSE(mem.Resize(16));
  EXPECT_EQ(mem.geometry().num_blocks, 16u);
  EXPECT_EQ(mem.memory().geometry().num_blocks, 16u);
  ASSERT_FALSE(mem.Read(8, buf));
  EXPECT_EQ(buf, Zeros());
  ASSERT_FALSE(mem.Write(15, Data(2)));
  ASSERT_FALSE(mem.Read(15, buf));
  EXPECT_EQ(buf, Data(2));
  EXPECT_EQ(mem.Read(16, buf), std::errc::invalid_argument);
  ASSERT_FALSE(mem.Zero(15));
  ASSERT_FALSE(mem.Resize(4));
  EXPECT_EQ(mem.Read(4, buf), std::errc::invalid_argument);
  EXPECT_EQ(mem.Resize(0), std::errc::invalid_argument);
  EXPECT_EQ(mem.geometry().num_blocks, 4u);
}

// A codec in s3backer's format (block 0 records the size) does not move.
TEST(Resize, S3backerCodecRefuses) {
  codec::BlockCodec::Options o;
  o.block_size = kBs;
  o.format = codec::BlockCodec::Format::kS3backer;
  o.volume_size = 16 * kBs;
  CodecStore c(std::make_unique<MemoryObjectStore>(Geometry{kBs, 16}), o);
  EXPECT_EQ(c.Resize(32), std::errc::operation_not_supported);
  EXPECT_EQ(c.geometry().num_blocks, 16u);
}

// The map over a surveyed store: new blocks are ABSENT (no request), the
// counts add up after a shrink and a grow again, and a block cut off by a
// shrink does not come back PRESENT with a later grow.
TEST(Resize, BlockMapFollows) {
  const std::uint64_t page = BlockMapStore::kPageBlocks;
  auto m = std::make_unique<MemoryStore>(Geometry{kBs, page + 10});
  MemoryStore* mem = m.get();
  ASSERT_FALSE(m->Write(page + 5, Data(1)));
  ASSERT_FALSE(m->Write(3, Data(2)));
  BlockMapStore map(std::move(m));
  ASSERT_FALSE(map.RunSurvey());
  ASSERT_EQ(map.state(page + 5), State::kPresent);
  // A block cut off while it still holds data: the map's own range moves;
  // the caller (ResizeVolume) would have refused, this checks the counts.
  ASSERT_FALSE(map.Zero(page + 5));
  ASSERT_FALSE(map.Resize(page + 2));
  EXPECT_EQ(map.geometry().num_blocks, page + 2);
  ASSERT_FALSE(map.Resize(3 * page + 7));  // two more pages
  EXPECT_EQ(map.geometry().num_blocks, 3 * page + 7);
  for (BlockNum b : {page + 2, page + 5, page + 9, 2 * page, 3 * page + 6}) {
    EXPECT_EQ(map.state(b), State::kAbsent) << b;
  }
  const auto reads = mem->Stats()[0]["ops"]["read"]["ops"].get<std::uint64_t>();
  std::vector<std::uint8_t> buf(kBs, 0xee);
  ASSERT_FALSE(map.Read(3 * page + 6, buf));
  EXPECT_EQ(buf, Zeros());
  EXPECT_EQ(mem->Stats()[0]["ops"]["read"]["ops"].get<std::uint64_t>(), reads);  // known absent: no request
  ASSERT_FALSE(map.Write(3 * page + 6, Data(3)));
  ASSERT_FALSE(map.Read(3 * page + 6, buf));
  EXPECT_EQ(buf, Data(3));
  std::set<BlockNum> present;
  ASSERT_TRUE(map.ForEachPresent([&](BlockNum b) { present.insert(b); }));
  EXPECT_EQ(present, (std::set<BlockNum>{3, 3 * page + 6}));
  StatsJson j = map.Stats()[0];
  EXPECT_EQ(j["known_present"].get<std::uint64_t>(), 2u);
  EXPECT_EQ(j["known_absent"].get<std::uint64_t>(), 3 * page + 7 - 2);
  EXPECT_EQ(j["unknown"].get<std::uint64_t>(), 0u);
  // Shrinking within a page and growing again: the tail starts afresh.
  ASSERT_FALSE(map.Write(2 * page + 1, Data(4)));
  ASSERT_FALSE(map.Zero(2 * page + 1));
  ASSERT_FALSE(map.Write(3 * page + 2, Data(5)));
  ASSERT_FALSE(map.Zero(3 * page + 2));
  ASSERT_FALSE(map.Zero(3 * page + 6));
  ASSERT_FALSE(map.Resize(3 * page + 1));
  ASSERT_FALSE(map.Resize(3 * page + 100));
  EXPECT_EQ(map.state(3 * page + 2), State::kAbsent);
  j = map.Stats()[0];
  EXPECT_EQ(j["known_present"].get<std::uint64_t>(), 1u);
  EXPECT_EQ(j["known_absent"].get<std::uint64_t>() + 1, 3 * page + 100);
  EXPECT_EQ(map.Resize(BlockMapStore::kMaxBlocks + 1), std::errc::file_too_large);
}

// Before the survey, new blocks are UNKNOWN (asked for), as the rest.
TEST(Resize, BlockMapWithoutSurveyAsksTheStore) {
  BlockMapStore map(std::make_unique<MemoryStore>(Geometry{kBs, 10}));
  ASSERT_FALSE(map.Resize(20));
  EXPECT_EQ(map.state(15), State::kUnknown);
  EXPECT_EQ(map.Stats()[0]["unknown"].get<std::uint64_t>(), 20u);
  ASSERT_FALSE(map.RunSurvey());
  EXPECT_EQ(map.state(15), State::kAbsent);
}

CacheConfig Config() {
  CacheConfig c;
  c.cache_size = 64 * kBs;
  c.threads = 2;
  c.write_delay = std::chrono::hours(1);
  c.read_ahead = 0;
  c.retry_delay = std::chrono::milliseconds(1);
  return c;
}

// The cache: a dirty block past the new end refuses the shrink (nothing
// changes below); clean copies past the end are dropped by one; new blocks
// are cached and written back like the others.
TEST(Resize, BlockCacheDropsBlocksPastTheEnd) {
  auto m = std::make_unique<MemoryStore>(Geometry{kBs, 32});
  MemoryStore* mem = m.get();
  BlockCache cache(std::move(m), Config());
  std::vector<std::uint8_t> buf(kBs);
  for (BlockNum b = 0; b < 32; ++b) ASSERT_FALSE(cache.Read(b, buf));  // all cached, clean (zeros)
  ASSERT_EQ(cache.CachedBlocks(), 32u);
  ASSERT_FALSE(cache.Write(20, Data(1)));  // dirty
  EXPECT_EQ(cache.Resize(16), std::errc::directory_not_empty);
  EXPECT_EQ(cache.geometry().num_blocks, 32u);
  EXPECT_EQ(mem->geometry().num_blocks, 32u);
  ASSERT_FALSE(cache.Zero(20));
  ASSERT_FALSE(cache.Flush(FlushLevel::kStore));
  ASSERT_FALSE(cache.Resize(16));
  EXPECT_EQ(mem->geometry().num_blocks, 16u);
  EXPECT_LE(cache.CachedBlocks(), 16u);
  EXPECT_EQ(cache.Read(20, buf), std::errc::invalid_argument);
  ASSERT_FALSE(cache.Resize(40));
  ASSERT_FALSE(cache.Read(39, buf));
  EXPECT_EQ(buf, Zeros());
  ASSERT_FALSE(cache.Write(39, Data(2)));
  ASSERT_FALSE(cache.Flush(FlushLevel::kStore));
  ASSERT_FALSE(mem->Read(39, buf));
  EXPECT_EQ(buf, Data(2));
}

// A volume in a temp directory, mounted as mount_command.cpp does it (map,
// cache with a cache file, fences, a lease held), with a Volume over it.
struct Mounted {
  explicit Mounted(const test::TempDir& dir, std::uint64_t size, bool with_file = true, bool read_only = false) {
    config.url = dir.path() + "/store";
    std::filesystem::create_directories(config.url);
    ResolveStoreUrl(config);
    config.size = size;
    config.block_size = kBs;
    config.read_only = read_only;
    config.fenced = !read_only;
    if (!read_only) {
      config.cache.cache_size = 64 * kBs;
      config.cache.write_delay = std::chrono::milliseconds(0);
      if (with_file) config.cache.cache_file = dir.path() + "/cache";
    }
    stack = BuildStack(config);
    if (!read_only) {
      LeaseOptions o = DefaultLeaseOptions();
      o.url = config.url;
      o.cache_file_id = stack.cache_file_id;
      o.cache_file = stack.cache_file;
      o.exclusive_already = true;
      lease = std::make_unique<Lease>(stack.meta, o);
      lease->Acquire();
      UseSavedMap(stack, *lease);
      stack.fence->Open();
      SurveyBlocksFirst(stack);
      CommitGeometry(stack);
      StartSurvey(stack);
      if (stack.map) stack.map->AwaitSurvey();
    }
    volume = std::make_unique<Volume>(*stack.top);
  }
  ~Mounted() {
    volume.reset();
    if (lease) {
      EXPECT_FALSE(stack.top->Flush(FlushLevel::kStore));
      EXPECT_FALSE(lease->Release(SaveMap(stack, *lease)));
    }
  }
  VolumeMeta Meta() {
    std::string text;
    EXPECT_FALSE(stack.meta->ReadMeta(kVolumeMetaKey, text, nullptr));
    return DecodeVolumeMeta(text);
  }
  std::error_code WriteAt(std::uint64_t offset, std::uint64_t seed) {
    const auto d = Data(seed);
    std::size_t done = 0;
    return volume->Write(offset, d, done);
  }
  std::vector<std::uint8_t> ReadAt(std::uint64_t offset) {
    std::vector<std::uint8_t> out(kBs, 0xee);
    std::size_t done = 0;
    EXPECT_FALSE(volume->Read(offset, out, done));
    out.resize(done);
    return out;
  }
  StoreConfig config;
  Stack stack;
  std::unique_ptr<Lease> lease;
  std::unique_ptr<Volume> volume;
};

TEST(Resize, GrowKeepsTheMetadataAndSurvivesARemount) {
  test::TempDir dir;
  std::string id;
  {
    Mounted m(dir, 16 * kBs);
    const VolumeMeta before = m.Meta();
    id = before.id;
    ASSERT_FALSE(m.WriteAt(3 * kBs, 1));
    std::size_t done = 0;
    EXPECT_EQ(m.volume->Write(16 * kBs, Data(2), done), std::errc::file_too_large);  // past the end, before
    std::string why;
    ASSERT_FALSE(ResizeVolume(m.stack, *m.volume, 40 * kBs, &why)) << why;
    EXPECT_EQ(m.volume->size(), 40 * kBs);
    for (std::uint64_t n : LayerBlocks(m.stack)) EXPECT_EQ(n, 40u);
    const VolumeMeta after = m.Meta();
    EXPECT_EQ(after.geometry.num_blocks, 40u);
    EXPECT_EQ(after.geometry.block_size, kBs);
    EXPECT_EQ(after.id, before.id);
    EXPECT_EQ(after.crc32c, before.crc32c);
    EXPECT_EQ(m.ReadAt(30 * kBs), Zeros());
    ASSERT_FALSE(m.WriteAt(39 * kBs, 3));
    EXPECT_EQ(m.ReadAt(39 * kBs), Data(3));
    EXPECT_EQ(m.ReadAt(3 * kBs), Data(1));
    EXPECT_EQ(m.volume->Write(40 * kBs, Data(4), done), std::errc::file_too_large);
  }
  // The next mount takes the size from the metadata (no --size), and the
  // map saved in the cache file at the unmount covers the new blocks.
  {
    Mounted m(dir, 40 * kBs);
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kCacheFile);
    EXPECT_EQ(m.Meta().id, id);
    EXPECT_EQ(m.ReadAt(39 * kBs), Data(3));
    EXPECT_EQ(m.ReadAt(3 * kBs), Data(1));
    EXPECT_EQ(m.ReadAt(20 * kBs), Zeros());
  }
}

TEST(Resize, ShrinkIsRefusedWhileTheTailHoldsData) {
  test::TempDir dir;
  Mounted m(dir, 32 * kBs);
  ASSERT_FALSE(m.WriteAt(25 * kBs, 1));  // dirty in the cache, or already uploaded
  std::string why;
  EXPECT_EQ(ResizeVolume(m.stack, *m.volume, 16 * kBs, &why), std::errc::directory_not_empty);
  EXPECT_NE(why.find("00000019"), std::string::npos) << why;
  EXPECT_EQ(m.Meta().geometry.num_blocks, 32u);
  for (std::uint64_t n : LayerBlocks(m.stack)) EXPECT_EQ(n, 32u);
  EXPECT_EQ(m.ReadAt(25 * kBs), Data(1));
  // The block at the new end counts too; one before it does not.
  ASSERT_FALSE(m.volume->ZeroRange(25 * kBs, kBs));
  ASSERT_FALSE(m.WriteAt(16 * kBs, 2));
  EXPECT_EQ(ResizeVolume(m.stack, *m.volume, 16 * kBs, &why), std::errc::directory_not_empty);
  ASSERT_FALSE(m.WriteAt(15 * kBs, 3));
  ASSERT_FALSE(m.volume->ZeroRange(16 * kBs, kBs));
  ASSERT_FALSE(ResizeVolume(m.stack, *m.volume, 16 * kBs, &why)) << why;
  EXPECT_EQ(m.Meta().geometry.num_blocks, 16u);
  for (std::uint64_t n : LayerBlocks(m.stack)) EXPECT_EQ(n, 16u);
  EXPECT_EQ(m.ReadAt(15 * kBs), Data(3));
  EXPECT_TRUE(m.ReadAt(16 * kBs).empty());  // past the end: nothing read
}

// The cache layer's cached blocks, from the stats.
std::uint64_t CachedBlocks(const Stack& stack) {
  for (const StatsJson& layer : stack.top->Stats()) {
    if (layer.value("layer", "") == "cache") return layer.value("cached_blocks", std::uint64_t{0});
  }
  return 0;
}

TEST(Resize, ShrinkOfAnEmptyTailDropsCachedBlocks) {
  test::TempDir dir;
  Mounted m(dir, 64 * kBs, /*with_file=*/false);
  for (std::uint64_t b = 0; b < 40; ++b) m.ReadAt(b * kBs);
  ASSERT_GE(CachedBlocks(m.stack), 40u);
  std::string why;
  ASSERT_FALSE(ResizeVolume(m.stack, *m.volume, 20 * kBs, &why)) << why;
  EXPECT_LE(CachedBlocks(m.stack), 20u);
  EXPECT_EQ(m.Meta().geometry.num_blocks, 20u);
}

// The metadata object is written first: when that write fails, no layer
// has moved.
TEST(Resize, FailedMetadataWriteLeavesEveryLayerAtTheOldSize) {
  struct FailingMeta : MetaStore {
    explicit FailingMeta(std::shared_ptr<MetaStore> m) : inner(std::move(m)) {}
    std::error_code ReadMeta(const std::string& k, std::string& v, std::string* ver) override {
      return inner->ReadMeta(k, v, ver);
    }
    std::error_code WriteMeta(const std::string& k, const std::string& v, const MetaCondition& c,
                              std::string* ver) override {
      if (k == kVolumeMetaKey && races > 0) {
        // Another read-modify-write got in first (`s3bd passwd`).
        --races;
        return make_error_code(Errc::kConditionFailed);
      }
      if (k == kVolumeMetaKey && fail) {
        ++failed;
        return std::make_error_code(std::errc::io_error);
      }
      return inner->WriteMeta(k, v, c, ver);
    }
    std::error_code DeleteMeta(const std::string& k, const MetaCondition& c) override {
      return inner->DeleteMeta(k, c);
    }
    std::error_code ProbeConditions(const std::string& k, bool* e) override { return inner->ProbeConditions(k, e); }
    std::shared_ptr<MetaStore> inner;
    bool fail = true;
    int failed = 0;
    int races = 0;
  };
  test::TempDir dir;
  Mounted m(dir, 32 * kBs);
  auto real = m.stack.meta;
  auto failing = std::make_shared<FailingMeta>(real);
  m.stack.meta = failing;
  std::string why;
  for (std::uint64_t size : {64 * kBs, 16 * kBs}) {
    EXPECT_EQ(ResizeVolume(m.stack, *m.volume, size, &why), std::errc::io_error);
    EXPECT_NE(why.find("volume metadata"), std::string::npos) << why;
    for (std::uint64_t n : LayerBlocks(m.stack)) EXPECT_EQ(n, 32u);
    EXPECT_EQ(m.volume->size(), 32 * kBs);
  }
  EXPECT_EQ(failing->failed, 2);
  EXPECT_EQ(m.Meta().geometry.num_blocks, 32u);
  ASSERT_FALSE(m.WriteAt(31 * kBs, 1));
  EXPECT_EQ(m.ReadAt(31 * kBs), Data(1));
  // A lost race with another writer of the metadata is read again.
  failing->fail = false;
  failing->races = 2;
  ASSERT_FALSE(ResizeVolume(m.stack, *m.volume, 48 * kBs, &why)) << why;
  EXPECT_EQ(failing->races, 0);
  EXPECT_EQ(m.Meta().geometry.num_blocks, 48u);
  // Lost every time: refused, nothing moved.
  failing->races = 100;
  EXPECT_EQ(ResizeVolume(m.stack, *m.volume, 64 * kBs, &why), Errc::kConditionFailed);
  for (std::uint64_t n : LayerBlocks(m.stack)) EXPECT_EQ(n, 48u);
  m.stack.meta = real;
}

// A layer that cannot follow once the metadata says the new size (not
// expected of any real layer: ResizeVolume checks their refusals first):
// the old size goes back into the metadata.
TEST(Resize, LayerThatCannotFollowPutsTheOldSizeBack) {
  struct Refusing : ForwardingStore {
    explicit Refusing(std::unique_ptr<BlockStore> next) : ForwardingStore("refusing", std::move(next)) {}
    std::error_code DoResize(std::uint64_t) override { return std::make_error_code(std::errc::io_error); }
  };
  Stack stack;
  stack.meta = std::make_shared<MemoryStore>(Geometry{kBs, 1});  // only its metadata objects
  stack.top = std::make_unique<Refusing>(std::make_unique<MemoryStore>(Geometry{kBs, 16}));
  VolumeMeta vm;
  vm.geometry = Geometry{kBs, 16};
  vm.id = NewVolumeId();
  ASSERT_FALSE(stack.meta->WriteMeta(kVolumeMetaKey, EncodeVolumeMeta(vm), MetaCondition::None(), nullptr));
  Volume volume(*stack.top);
  std::string why;
  EXPECT_EQ(ResizeVolume(stack, volume, 32 * kBs, &why), std::errc::io_error);
  EXPECT_NE(why.find("stays 64 KiB"), std::string::npos) << why;
  std::string text;
  ASSERT_FALSE(stack.meta->ReadMeta(kVolumeMetaKey, text, nullptr));
  EXPECT_EQ(DecodeVolumeMeta(text).geometry.num_blocks, 16u);
  EXPECT_EQ(DecodeVolumeMeta(text).id, vm.id);
  EXPECT_EQ(volume.size(), 16 * kBs);
}

TEST(Resize, BadRequestsAreRefused) {
  test::TempDir dir;
  {
    Mounted m(dir, 32 * kBs);
    std::string why;
    EXPECT_EQ(ResizeVolume(m.stack, *m.volume, 32 * kBs + 512, &why), std::errc::invalid_argument);
    EXPECT_EQ(ResizeVolume(m.stack, *m.volume, 0, &why), std::errc::invalid_argument);
    EXPECT_EQ(ResizeVolume(m.stack, *m.volume, (BlockMapStore::kMaxBlocks + 1) * kBs, &why),
              std::errc::file_too_large);
    ASSERT_FALSE(ResizeVolume(m.stack, *m.volume, 32 * kBs, &why));  // the same size: nothing to do
    m.stack.s3backer = true;
    EXPECT_EQ(ResizeVolume(m.stack, *m.volume, 64 * kBs, &why), std::errc::operation_not_supported);
    m.stack.s3backer = false;
    EXPECT_EQ(m.Meta().geometry.num_blocks, 32u);
  }
  Mounted ro(dir, 32 * kBs, false, /*read_only=*/true);
  std::string why;
  EXPECT_EQ(ResizeVolume(ro.stack, *ro.volume, 64 * kBs, &why), std::errc::read_only_file_system);
}

// Writers keep going while the volume grows: none fails inside the volume,
// and everything written reads back.
TEST(Resize, GrowWhileWriting) {
  test::TempDir dir;
  Mounted m(dir, 64 * kBs);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> passes[4] = {0, 0, 0, 0};  // full passes over each writer's 16 blocks
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (std::uint64_t i = 0; !stop.load(); ++i) {
        const std::uint64_t b = (i * 4 + static_cast<std::uint64_t>(t)) % 64;
        if (m.WriteAt(b * kBs, b + 1)) failures.fetch_add(1);
        if (i % 16 == 15) passes[t].fetch_add(1);
      }
    });
  }
  std::string why;
  for (std::uint64_t n = 65; n <= 96; ++n) ASSERT_FALSE(ResizeVolume(m.stack, *m.volume, n * kBs, &why)) << why;
  // Every writer wrote all its blocks at least once more after the last grow.
  int after[4];
  for (int t = 0; t < 4; ++t) after[t] = passes[t].load();
  for (int t = 0; t < 4; ++t) {
    while (passes[t].load() < after[t] + 1) std::this_thread::yield();
  }
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  for (std::uint64_t b = 0; b < 64; ++b) EXPECT_EQ(m.ReadAt(b * kBs), Data(b + 1)) << b;
  EXPECT_EQ(m.Meta().geometry.num_blocks, 96u);
}

}  // namespace
}  // namespace s3bd
