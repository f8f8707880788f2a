// Tests of block object naming (src/s3/object_key.cpp): plain hex names,
// s3backer's --blockHashPrefix layout (expected hashes computed
// independently from s3backer's published formula), block numbers beyond
// 32 bits, and parsing keys back while ignoring everything else.
#include "s3bd/s3/object_key.h"

#include <gtest/gtest.h>

#include <set>

namespace s3bd::s3 {
namespace {

TEST(S3ObjectKey, PlainHexAtLeastEightDigits) {
  EXPECT_EQ(BlockHex(0), "00000000");
  EXPECT_EQ(BlockHex(0x2a), "0000002a");
  EXPECT_EQ(BlockHex(0xdeadbeef), "deadbeef");
  EXPECT_EQ(BlockHex(0xffffffff), "ffffffff");
  EXPECT_EQ(BlockHex(0x100000000), "100000000");
  EXPECT_EQ(BlockHex(0xffffffffffffffff), "ffffffffffffffff");
  EXPECT_EQ(BlockKey({"", false}, 0x2a), "0000002a");
  EXPECT_EQ(BlockKey({"vol1/", false}, 0x2a), "vol1/0000002a");
  EXPECT_EQ(BlockKey({"pre", false}, 0x123456789a), "pre123456789a");
}

TEST(S3ObjectKey, S3backerHashValues) {
  // h = block; for n = 12..1: h = ((h >> 8) ^ h) * 0x6b + n, in uint32.
  EXPECT_EQ(S3backerBlockHash(0), 0xc448b72cu);
  EXPECT_EQ(S3backerBlockHash(1), 0xd211cad9u);
  EXPECT_EQ(S3backerBlockHash(2), 0x7183baa1u);
  EXPECT_EQ(S3backerBlockHash(0x2a), 0xd0629fa5u);
  EXPECT_EQ(S3backerBlockHash(0xff), 0x6ad31a26u);
  EXPECT_EQ(S3backerBlockHash(0x100), 0xe34e7a2cu);
  EXPECT_EQ(S3backerBlockHash(0x12345678), 0x7fbf2916u);
  EXPECT_EQ(S3backerBlockHash(0xffffffff), 0x0f447858u);
  EXPECT_EQ(BlockHash(0x2a), 0xd0629fa5u);
  EXPECT_EQ(BlockHash(0x100000000), 0x1362ac0e6ff8db2eu);
}

TEST(S3ObjectKey, HashPrefixLayout) {
  const KeyScheme scheme{"vol1/", true};
  EXPECT_EQ(BlockKey(scheme, 0), "vol1/c448b72c-00000000");
  EXPECT_EQ(BlockKey(scheme, 0x2a), "vol1/d0629fa5-0000002a");
  EXPECT_EQ(BlockKey(scheme, 0xffffffff), "vol1/0f447858-ffffffff");
  // Beyond s3backer's 32-bit range: 16-digit hash.
  EXPECT_EQ(BlockKey(scheme, 0x100000000), "vol1/1362ac0e6ff8db2e-100000000");
  EXPECT_EQ(BlockKey(scheme, 0x123456789a), "vol1/107d049071751c2a-123456789a");
}

TEST(S3ObjectKey, HashSpreadsConsecutiveBlocks) {
  std::set<std::string> first_chars;
  for (std::uint64_t b = 0; b < 64; ++b) first_chars.insert(BlockKey({"", true}, b).substr(0, 1));
  EXPECT_GE(first_chars.size(), 10u);
}

TEST(S3ObjectKey, RoundTrip) {
  for (const KeyScheme& scheme : {KeyScheme{"", false}, KeyScheme{"p/", false}, KeyScheme{"", true},
                                  KeyScheme{"vol-1/", true}}) {
    for (std::uint64_t b : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x2a}, std::uint64_t{0xffffffff},
                            std::uint64_t{0x100000000}, std::uint64_t{0xfedcba9876543210},
                            std::uint64_t{0xffffffffffffffff}}) {
      const std::string key = BlockKey(scheme, b);
      const auto parsed = ParseBlockKey(scheme, key);
      ASSERT_TRUE(parsed.has_value()) << key;
      EXPECT_EQ(*parsed, b) << key;
    }
  }
}

TEST(S3ObjectKey, ParseIgnoresNonBlockNames) {
  const KeyScheme plain{"vol1/", false};
  EXPECT_EQ(ParseBlockKey(plain, "vol1/0000002a"), 0x2au);
  for (const char* key : {"vol1/", "vol1/2a", "vol1/0000002A", "vol1/00000002a", "vol1/0000002a ",
                          "vol1/0000002a.tmp", "vol1/s3backer-mounted", "vol1/s3bd-meta", "vol2/0000002a",
                          "0000002a", "vol1/-0000002a", "vol1/+000002a", "vol1/0x00002a",
                          "vol1/10000000000000000", "vol1/d0629fa5-0000002a", "vol1/0000002a/x"}) {
    EXPECT_FALSE(ParseBlockKey(plain, key).has_value()) << key;
  }
}

TEST(S3ObjectKey, ParseChecksTheHash) {
  const KeyScheme hashed{"", true};
  EXPECT_EQ(ParseBlockKey(hashed, "d0629fa5-0000002a"), 0x2au);
  for (const char* key : {"0000002a", "d0629fa6-0000002a", "D0629FA5-0000002a", "d0629fa5-0000002b",
                          "d0629fa5_0000002a", "d0629fa5-", "-0000002a", "0d0629fa5-0000002a",
                          "d0629fa5-0000002a-", "00000000d0629fa5-0000002a"}) {
    EXPECT_FALSE(ParseBlockKey(hashed, key).has_value()) << key;
  }
}

}  // namespace
}  // namespace s3bd::s3
