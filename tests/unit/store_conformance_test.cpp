// The BlockStore contract (include/s3bd/core/block_store.h), checked for
// every store. A new store adds one entry to kStores.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "s3bd/cache/block_cache.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/directory_store.h"
#include "s3bd/store/fault_store.h"
#include "s3bd/codec/s3backer_format.h"
#include "s3bd/store/memory_store.h"
#include "s3_test_support.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 64};

// A memory store under a codec layer with these options.
std::unique_ptr<BlockStore> MemoryBlocks(codec::CompressionSpec compression, bool encrypt) {
  return std::make_unique<MemoryStore>(kGeom, test::CodecOptions(kGeom.block_size, compression, encrypt));
}

// The codec in s3backer's format (codec/s3backer_format.h), with fixed keys
// when encrypted.
codec::BlockCodec::Options S3backerOptions(bool deflate, bool encrypt) {
  codec::BlockCodec::Options o;
  o.block_size = kGeom.block_size;
  o.format = codec::BlockCodec::Format::kS3backer;
  o.volume_size = kGeom.size();
  if (deflate) o.compression = test::kDeflate1;
  if (encrypt) {
    static const auto keys = [] {
      auto k = std::make_shared<codec::s3backer::Keys>();
      EXPECT_TRUE(k->Derive("conformance", "bucket", "vol/"));
      return k;
    }();
    o.s3backer_keys = keys;
  }
  return o;
}

struct StoreFactory {
  const char* name;
  std::function<std::unique_ptr<BlockStore>(const std::string& dir)> make;
};

const StoreFactory kStores[] = {
    {"memory", [](const std::string&) { return std::make_unique<MemoryStore>(kGeom); }},
    {"directory",
     [](const std::string& dir) {
       return test::RawBlocks(std::make_unique<DirectoryStore>(Directory::Open(dir, false), kGeom));
     }},
    // Codec stacks: compressed, encrypted, both.
    {"memory_zstd", [](const std::string&) { return MemoryBlocks(test::kZstd, false); }},
    {"memory_deflate1", [](const std::string&) { return MemoryBlocks(test::kDeflate1, false); }},
    {"memory_encrypted", [](const std::string&) { return MemoryBlocks({}, true); }},
    {"memory_zstd_encrypted", [](const std::string&) { return MemoryBlocks(test::kZstd, true); }},
    {"directory_zstd_encrypted",
     [](const std::string& dir) -> std::unique_ptr<BlockStore> {
       return test::CodecBlocks(std::make_unique<DirectoryStore>(Directory::Open(dir, false), kGeom), test::kZstd,
                                true);
     }},
    // s3backer's format: plain, deflated, encrypted.
    {"memory_s3backer",
     [](const std::string&) { return std::make_unique<MemoryStore>(kGeom, S3backerOptions(false, false)); }},
    {"memory_s3backer_deflate",
     [](const std::string&) { return std::make_unique<MemoryStore>(kGeom, S3backerOptions(true, false)); }},
    {"memory_s3backer_encrypted",
     [](const std::string&) { return std::make_unique<MemoryStore>(kGeom, S3backerOptions(false, true)); }},
#ifdef S3BD_HAVE_TEST_S3SERVER
    {"s3_s3backer_encrypted",
     [](const std::string&) -> std::unique_ptr<BlockStore> {
       return std::make_unique<CodecStore>(test::MakeTestS3Objects(kGeom, false), S3backerOptions(true, true));
     }},
    {"s3_zstd_encrypted",
     [](const std::string&) -> std::unique_ptr<BlockStore> {
       return test::CodecBlocks(test::MakeTestS3Objects(kGeom, false), test::kZstd, true);
     }},
    // Over HTTP to the in-process test S3 server, each under a fresh prefix.
    {"s3", [](const std::string&) -> std::unique_ptr<BlockStore> { return test::MakeTestS3Store(kGeom); }},
    {"s3_mapped",  // the block map over S3, surveyed: reads of absent blocks cost no request
     [](const std::string&) -> std::unique_ptr<BlockStore> { return test::MakeTestS3MappedStore(kGeom); }},
    {"s3_hash_prefix",
     [](const std::string&) -> std::unique_ptr<BlockStore> { return test::MakeTestS3Store(kGeom, true); }},
#endif
    {"cache_over_memory",
     [](const std::string&) {
       CacheConfig c;
       c.cache_size = 8 * kGeom.block_size;  // small: eviction happens
       c.threads = 4;
       c.write_delay = std::chrono::milliseconds(1);
       return std::make_unique<BlockCache>(std::make_unique<MemoryStore>(kGeom), c);
     }},
    // The block map over memory: unsurveyed (every block unknown: asks the
    // store), surveyed (all absent), and surveyed in the background while
    // the test runs.
    {"map_unsurveyed",
     [](const std::string&) { return std::make_unique<BlockMapStore>(std::make_unique<MemoryStore>(kGeom)); }},
    {"map_surveyed",
     [](const std::string&) {
       auto map = std::make_unique<BlockMapStore>(std::make_unique<MemoryStore>(kGeom));
       EXPECT_FALSE(map->RunSurvey());
       return map;
     }},
    {"map_surveying",
     [](const std::string&) {
       auto map = std::make_unique<BlockMapStore>(std::make_unique<MemoryStore>(kGeom));
       map->StartSurvey();
       return map;
     }},
    {"map_over_directory",
     [](const std::string& dir) {
       auto map = std::make_unique<BlockMapStore>(
           test::RawBlocks(std::make_unique<DirectoryStore>(Directory::Open(dir, false), kGeom)));
       EXPECT_FALSE(map->RunSurvey());
       return map;
     }},
    {"faults_off",
     [](const std::string&) {
       return std::make_unique<FaultStore>(std::make_unique<MemoryStore>(kGeom), FaultSpec{});
     }},
};

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { store_ = GetParam().make(dir_.path()); }
  std::vector<std::uint8_t> ReadBlock(BlockNum b) {
    std::vector<std::uint8_t> out(kGeom.block_size, 0xAA);
    EXPECT_FALSE(store_->Read(b, out));
    return out;
  }
  std::set<BlockNum> Listed() {
    std::set<BlockNum> s;
    EXPECT_FALSE(store_->ListNonZero([&](BlockNum b) { s.insert(b); }));
    return s;
  }
  test::TempDir dir_;
  std::unique_ptr<BlockStore> store_;
};

TEST_P(StoreConformance, UnwrittenBlockReadsZero) {
  auto data = ReadBlock(7);
  EXPECT_TRUE(std::all_of(data.begin(), data.end(), [](auto b) { return b == 0; }));
  EXPECT_TRUE(Listed().empty());
}

TEST_P(StoreConformance, WriteThenReadBack) {
  auto a = test::RandomBytes(kGeom.block_size, 1), b = test::RandomBytes(kGeom.block_size, 2);
  ASSERT_FALSE(store_->Write(0, a));
  ASSERT_FALSE(store_->Write(63, b));
  EXPECT_EQ(ReadBlock(0), a);
  EXPECT_EQ(ReadBlock(63), b);
  EXPECT_EQ(Listed(), (std::set<BlockNum>{0, 63}));
  ASSERT_FALSE(store_->Write(0, b));  // overwrite
  EXPECT_EQ(ReadBlock(0), b);
}

TEST_P(StoreConformance, ZeroFreesBlock) {
  ASSERT_FALSE(store_->Write(5, test::RandomBytes(kGeom.block_size, 3)));
  ASSERT_FALSE(store_->Zero(5));
  EXPECT_EQ(ReadBlock(5), std::vector<std::uint8_t>(kGeom.block_size, 0));
  EXPECT_TRUE(Listed().empty());
  EXPECT_FALSE(store_->Zero(6));  // zeroing an absent block is fine
}

TEST_P(StoreConformance, AllZeroWriteStoresNothing) {
  ASSERT_FALSE(store_->Write(9, test::RandomBytes(kGeom.block_size, 4)));
  ASSERT_FALSE(store_->Write(9, std::vector<std::uint8_t>(kGeom.block_size, 0)));
  EXPECT_TRUE(Listed().empty());
  EXPECT_EQ(ReadBlock(9), std::vector<std::uint8_t>(kGeom.block_size, 0));
}

TEST_P(StoreConformance, RejectsOutOfRangeAndWrongSize) {
  std::vector<std::uint8_t> buf(kGeom.block_size);
  EXPECT_EQ(store_->Read(64, buf), std::errc::invalid_argument);
  EXPECT_EQ(store_->Write(64, buf), std::errc::invalid_argument);
  EXPECT_EQ(store_->Zero(64), std::errc::invalid_argument);
  std::vector<std::uint8_t> small(100, 1);
  EXPECT_EQ(store_->Read(0, small), std::errc::invalid_argument);
  EXPECT_EQ(store_->Write(0, small), std::errc::invalid_argument);
  EXPECT_TRUE(Listed().empty());
}

TEST_P(StoreConformance, FlushSucceeds) {
  ASSERT_FALSE(store_->Write(1, test::RandomBytes(kGeom.block_size, 5)));
  EXPECT_FALSE(store_->Flush());
  EXPECT_FALSE(store_->Flush());
}

TEST_P(StoreConformance, ConcurrentReadersSeeOldOrNew) {
  auto a = test::RandomBytes(kGeom.block_size, 6), b = test::RandomBytes(kGeom.block_size, 7);
  ASSERT_FALSE(store_->Write(2, a));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    std::vector<std::uint8_t> out(kGeom.block_size);
    while (!stop) {
      if (store_->Read(2, out) || (out != a && out != b)) torn++;
    }
  });
  for (int i = 0; i < 200; ++i) ASSERT_FALSE(store_->Write(2, i % 2 ? a : b));
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

TEST_P(StoreConformance, StatsCountOperations) {
  ASSERT_FALSE(store_->Write(3, test::RandomBytes(kGeom.block_size, 8)));
  ReadBlock(3);
  std::ostringstream os;
  store_->PrintStats(os);
  const std::string s = os.str();
  EXPECT_NE(s.find("[" + store_->name() + "]"), std::string::npos) << s;
  EXPECT_NE(s.find("read                1 ops             4096 bytes"), std::string::npos) << s;
  EXPECT_NE(s.find("write               1 ops             4096 bytes"), std::string::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreConformance, ::testing::ValuesIn(kStores),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace s3bd
