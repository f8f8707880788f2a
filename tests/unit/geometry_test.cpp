// Size parsing, the volume metadata object and geometry decisions.
#include "s3bd/core/geometry.h"

#include <gtest/gtest.h>

#include "s3bd/core/errors.h"

namespace s3bd {
namespace {

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(ParseSize("4096", "x"), 4096u);
  EXPECT_EQ(ParseSize("4K", "x"), 4096u);
  EXPECT_EQ(ParseSize("4k", "x"), 4096u);
  EXPECT_EQ(ParseSize("1M", "x"), 1u << 20);
  EXPECT_EQ(ParseSize("2G", "x"), 2ull << 30);
  EXPECT_EQ(ParseSize("2GiB", "x"), 2ull << 30);
  EXPECT_EQ(ParseSize("3T", "x"), 3ull << 40);
  EXPECT_EQ(ParseSize("1P", "x"), 1ull << 50);
}

TEST(ParseSize, RejectsGarbage) {
  for (const char* bad : {"", "0", "0G", "G", "-1", "1.5G", "12X", "1GG", "99999999999999999999",
                          "16777216T", " 1G", "1G "}) {
    EXPECT_THROW(ParseSize(bad, "--size"), StartupError) << bad;
  }
  try {
    ParseSize("12X", "--size");
  } catch (const StartupError& e) {
    EXPECT_NE(std::string(e.what()).find("--size '12X'"), std::string::npos) << e.what();
  }
}

TEST(FormatSize, Units) {
  EXPECT_EQ(FormatSize(1u << 30), "1 GiB");
  EXPECT_EQ(FormatSize(1536u << 20), "1536 MiB");
  EXPECT_EQ(FormatSize(1000), "1000 B");
}

TEST(VolumeMeta, RoundTrip) {
  Geometry g{1 << 20, 1024};
  Geometry back = DecodeVolumeMeta(EncodeVolumeMeta(g));
  EXPECT_EQ(back.block_size, g.block_size);
  EXPECT_EQ(back.num_blocks, g.num_blocks);
}

TEST(VolumeMeta, VolumeId) {
  const Geometry g{1 << 20, 1024};
  const std::string id = NewVolumeId();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_NE(id, NewVolumeId());
  std::string back = "x";
  EXPECT_EQ(DecodeVolumeMeta(EncodeVolumeMeta(g, id), &back).num_blocks, 1024u);
  EXPECT_EQ(back, id);
  // Metadata written before volumes had ids still works, with no id.
  EXPECT_EQ(DecodeVolumeMeta("s3bd-volume 1\nsize 4096\nblock-size 4096\n", &back).num_blocks, 1u);
  EXPECT_EQ(back, "");
  for (const char* bad : {"s3bd-volume 1\nsize 4096\nblock-size 4096\nid 12\n",
                          "s3bd-volume 1\nsize 4096\nblock-size 4096\nid 0123456789ABCDEF0123456789abcdef\n"}) {
    EXPECT_THROW(DecodeVolumeMeta(bad), StartupError) << bad;
  }
}

TEST(VolumeMeta, RejectsDamage) {
  for (const char* bad :
       {"", "garbage", "s3bd-volume 2\nsize 4096\nblock-size 4096\n", "s3bd-volume 1\nsize 4096\n",
        "s3bd-volume 1\nsize x\nblock-size 4096\n", "s3bd-volume 1\nsize 4096\nblock-size 3000\n",
        "s3bd-volume 1\nsize 5000\nblock-size 4096\n", "s3bd-volume 1\nsize 0\nblock-size 4096\n",
        "s3bd-volume 1\nsizeless\n"}) {
    EXPECT_THROW(DecodeVolumeMeta(bad), StartupError) << bad;
  }
  EXPECT_THROW(DecodeVolumeMeta(std::string(10000, 'a')), StartupError);
}

TEST(DecideGeometry, NewVolume) {
  auto d = DecideGeometry(std::nullopt, 1u << 30, std::nullopt, false, false);
  EXPECT_EQ(d.geometry.block_size, 1u << 20);
  EXPECT_EQ(d.geometry.num_blocks, 1024u);
  EXPECT_TRUE(d.write_meta);
  EXPECT_THROW(DecideGeometry(std::nullopt, std::nullopt, std::nullopt, false, false), StartupError);
  EXPECT_THROW(DecideGeometry(std::nullopt, 1u << 30, 3000, false, false), StartupError);
  EXPECT_THROW(DecideGeometry(std::nullopt, 1u << 30, 2048, false, false), StartupError);
  EXPECT_THROW(DecideGeometry(std::nullopt, 1u << 30, 128u << 20, false, false), StartupError);
  EXPECT_THROW(DecideGeometry(std::nullopt, 1000, 4096, false, false), StartupError);
  EXPECT_THROW(DecideGeometry(std::nullopt, 1u << 30, std::nullopt, false, true), StartupError);
}

TEST(DecideGeometry, ExistingVolume) {
  const Geometry stored{1 << 20, 1024};
  auto d = DecideGeometry(stored, std::nullopt, std::nullopt, false, false);
  EXPECT_EQ(d.geometry.num_blocks, 1024u);
  EXPECT_FALSE(d.write_meta);
  d = DecideGeometry(stored, 1u << 30, 1u << 20, false, false);  // same values are fine
  EXPECT_FALSE(d.write_meta);
  EXPECT_THROW(DecideGeometry(stored, 2u << 30, std::nullopt, false, false), StartupError);
  EXPECT_THROW(DecideGeometry(stored, std::nullopt, 4096, true, false), StartupError);
  d = DecideGeometry(stored, 2u << 30, std::nullopt, true, false);
  EXPECT_EQ(d.geometry.num_blocks, 2048u);
  EXPECT_TRUE(d.write_meta);
  EXPECT_FALSE(d.shrinking);
  d = DecideGeometry(stored, 512u << 20, std::nullopt, true, false);
  EXPECT_TRUE(d.shrinking);
  EXPECT_THROW(DecideGeometry(stored, 2u << 30, std::nullopt, true, true), StartupError);
}

}  // namespace
}  // namespace s3bd
