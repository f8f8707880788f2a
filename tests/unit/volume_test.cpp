// Volume: head/body/tail splitting, bounds, and zeroing, over a MemoryStore
// whose counters show which block operations each request became.
#include "s3bd/volume/volume.h"

#include <gtest/gtest.h>

#include <sstream>

#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 8};

std::string Stats(const BlockStore& s) {
  std::ostringstream os;
  s.PrintStats(os);
  return os.str();
}

TEST(Volume, UnalignedWriteSpanningBlocks) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(3 * 4096, 1);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(100, data, done));
  EXPECT_EQ(done, data.size());
  EXPECT_EQ(store.StoredBlocks(), 4u);  // head, 2 whole blocks, tail
  std::vector<std::uint8_t> back(data.size() + 200);
  ASSERT_FALSE(vol.Read(0, back, done));
  EXPECT_EQ(done, back.size());
  EXPECT_TRUE(std::all_of(back.begin(), back.begin() + 100, [](auto b) { return b == 0; }));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin() + 100));
}

TEST(Volume, WholeBlockWriteDoesNoRead) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(2 * 4096, 2);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(4096, data, done));
  EXPECT_NE(Stats(store).find("read                0 ops"), std::string::npos) << Stats(store);
}

TEST(Volume, ReadAtEndIsShort) {
  MemoryStore store(kGeom);
  Volume vol(store);
  std::vector<std::uint8_t> buf(1000);
  std::size_t done = 7;
  ASSERT_FALSE(vol.Read(kGeom.size() - 10, buf, done));
  EXPECT_EQ(done, 10u);
  ASSERT_FALSE(vol.Read(kGeom.size(), buf, done));
  EXPECT_EQ(done, 0u);
}

TEST(Volume, WritePastEnd) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(100, 3);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(kGeom.size() - 10, data, done));
  EXPECT_EQ(done, 10u);
  EXPECT_EQ(vol.Write(kGeom.size(), data, done), std::errc::file_too_large);
  EXPECT_EQ(done, 0u);
}

TEST(Volume, ZeroRangeFreesWholeBlocksAndZeroesPartialOnes) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(kGeom.size(), 4);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(0, data, done));
  ASSERT_EQ(store.StoredBlocks(), 8u);
  ASSERT_FALSE(vol.ZeroRange(4096 + 10, 3 * 4096));  // part of 1, all of 2 and 3, part of 4
  EXPECT_EQ(store.StoredBlocks(), 6u);
  std::vector<std::uint8_t> back(kGeom.size());
  ASSERT_FALSE(vol.Read(0, back, done));
  for (std::uint64_t i = 0; i < kGeom.size(); ++i) {
    const bool zeroed = i >= 4096 + 10 && i < 4 * 4096 + 10;
    ASSERT_EQ(back[i], zeroed ? 0 : data[i]) << i;
  }
  // Zeroing the rest of block 1 and 4 frees them too.
  ASSERT_FALSE(vol.ZeroRange(4096, 10));
  ASSERT_FALSE(vol.ZeroRange(4 * 4096 + 10, 4096 - 10));
  EXPECT_EQ(store.StoredBlocks(), 4u);
}

TEST(Volume, ZeroRangeClipsAtEnd) {
  MemoryStore store(kGeom);
  Volume vol(store);
  EXPECT_FALSE(vol.ZeroRange(kGeom.size() - 4096, 1 << 20));
  EXPECT_FALSE(vol.ZeroRange(kGeom.size() + 5, 10));
}

}  // namespace
}  // namespace s3bd
