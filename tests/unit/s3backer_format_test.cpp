// s3backer's format (codec/s3backer_format.h) and the block codec's
// s3backer dialect: against objects that Debian's s3backer 1.5.4 wrote to the
// test S3 server (bucket "bucket", prefix "enc/" or "comp/", password
// "secretpw", 4 KiB blocks of a 1 MiB volume), byte for byte, and every way
// such an object can be wrong.
#include "s3bd/codec/s3backer_format.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "s3bd/codec/block_codec.h"
#include "s3bd/core/errors.h"

namespace s3bd::codec {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes Hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string HexOf(std::span<const std::uint8_t> b) {
  std::string s;
  for (auto c : b) s += fmt::format("{:02x}", c);
  return s;
}

// s3backer 1.5.4, `--compress`: block 0 = "hello world" and zeros.
constexpr char kDeflated0[] =
    "789cedc1c10900200c0430477138051f07857e5cdf3d24c9d949cd5b9d35000000803f3dbe17045d";
// `--encrypt --passwordFile` (password "secretpw"), prefix "enc/": the same
// block 0, and block 5 = "abcdefgh\n" repeated.
constexpr char kEncrypted0[] =
    "c127982aba9a64581b34171bd540c0a66e6349322ddeb0a6ea86744391d5005e9b06e6016c894526b19574aa6361a7ec";
constexpr char kHmac0[] = "\"917a0c9bf76c40136929906b271e360c442b9606\"";
constexpr char kEncrypted5[] =
    "a6411f5d586b7a639a972f4d3ebb05a50283503a03bffd26c16326186b2593dddfbd446280902c4b7919ed1ff270c181";
constexpr char kHmac5[] = "\"536bdf8cb6e5b73b4c72da42ff678dcf7a193726\"";
constexpr char kEncoding[] = "deflate, encrypt-AES-128-CBC";

Bytes HelloBlock() {
  Bytes b(4096, 0);
  const std::string s = "hello world";
  std::copy(s.begin(), s.end(), b.begin());
  return b;
}

Bytes AbcBlock() {
  Bytes b;
  const std::string s = "abcdefgh\n";
  while (b.size() < 4096) b.push_back(static_cast<std::uint8_t>(s[b.size() % s.size()]));
  return b;
}

std::shared_ptr<const s3backer::Keys> TestKeys(std::string_view password = "secretpw") {
  auto k = std::make_shared<s3backer::Keys>();
  EXPECT_TRUE(k->Derive(password, "bucket", "enc/"));
  return k;
}

BlockCodec MakeCodec(std::shared_ptr<const s3backer::Keys> keys, CompressionSpec compression = {}) {
  BlockCodec::Options o;
  o.block_size = 4096;
  o.format = BlockCodec::Format::kS3backer;
  o.s3backer_keys = std::move(keys);
  o.compression = compression;
  o.volume_size = 1 << 20;
  return BlockCodec(o);
}

ObjectMeta Meta(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  ObjectMeta m;
  for (const auto& [k, v] : pairs) m.Set(k, v);
  return m;
}

std::error_code Decode(const BlockCodec& c, BlockNum b, const Bytes& object, const ObjectMeta& meta, Bytes* out,
                       std::string* detail = nullptr) {
  out->assign(4096, 0xee);
  std::string d;
  auto ec = c.Decode(b, object, meta, *out, &d);
  if (detail) *detail = d;
  return ec;
}

TEST(S3backerFormat, KeysAreS3backers) {
  auto k = TestKeys();
  EXPECT_EQ(HexOf(k->key()), "99a40efa95f9eb3850f43f821198a35f");
  EXPECT_EQ(HexOf(k->ivkey()), "17248bc4d38ff9fc817a6d38b36af2ce");
}

TEST(S3backerFormat, ContentEncoding) {
  std::string why;
  EXPECT_EQ(s3backer::ParseContentEncoding("", &why), (s3backer::ContentEncoding{false, false}));
  EXPECT_EQ(s3backer::ParseContentEncoding("deflate", &why), (s3backer::ContentEncoding{true, false}));
  EXPECT_EQ(s3backer::ParseContentEncoding(kEncoding, &why), (s3backer::ContentEncoding{true, true}));
  EXPECT_EQ(s3backer::ParseContentEncoding("deflate,encrypt-AES-128-CBC", &why),
            (s3backer::ContentEncoding{true, true}));
  EXPECT_EQ(s3backer::ParseContentEncoding("encrypt-AES-128-CBC", &why), (s3backer::ContentEncoding{false, true}));
  for (const char* bad : {"gzip", "deflate, deflate", "encrypt-AES-128-CBC, deflate", "deflate, encrypt-AES-256-CBC",
                          "deflate,", ",", "encrypt-AES-128-CBC, encrypt-AES-128-CBC", "zstd"}) {
    why.clear();
    EXPECT_FALSE(s3backer::ParseContentEncoding(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  EXPECT_EQ(s3backer::FormatContentEncoding({true, true}), kEncoding);
  EXPECT_EQ(s3backer::FormatContentEncoding({true, false}), "deflate");
}

TEST(S3backerFormat, Geometry) {
  std::string why;
  auto g = s3backer::ParseGeometry(Meta({{"s3backer-blocksize", "4096"}, {"s3backer-filesize", "1048576"}}), &why);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->block_size, 4096u);
  EXPECT_EQ(g->num_blocks, 256u);
  EXPECT_FALSE(s3backer::ParseGeometry(Meta({}), &why));
  EXPECT_TRUE(why.empty());
  for (auto [bs, fs] : std::vector<std::pair<std::string, std::string>>{
           {"4096", "1000"}, {"4095", "4095"}, {"0", "0"}, {"x", "4096"}, {"4096", "-4096"},
           {"4096", "99999999999999999999999"}}) {
    EXPECT_FALSE(s3backer::ParseGeometry(Meta({{"s3backer-blocksize", bs}, {"s3backer-filesize", fs}}), &why));
    EXPECT_FALSE(why.empty()) << bs << " " << fs;
  }
  EXPECT_FALSE(s3backer::ParseGeometry(Meta({{"s3backer-blocksize", "4096"}}), &why));
  EXPECT_FALSE(why.empty());
}

TEST(S3backerFormat, Hmac) {
  EXPECT_TRUE(s3backer::ParseHmac(kHmac0));
  EXPECT_FALSE(s3backer::ParseHmac("917a0c9bf76c40136929906b271e360c442b9606"));
  EXPECT_FALSE(s3backer::ParseHmac("\"917a0c9bf76c40136929906b271e360c442b960\""));
  EXPECT_FALSE(s3backer::ParseHmac("\"917a0c9bf76c40136929906b271e360c442b960g\""));
}

TEST(S3backerCodec, ReadsWhatS3backerWrote) {
  Bytes out;
  EXPECT_FALSE(Decode(MakeCodec(nullptr), 0, Hex(kDeflated0), Meta({{"content-encoding", "deflate"}}), &out));
  EXPECT_EQ(out, HelloBlock());
  const auto enc = MakeCodec(TestKeys());
  EXPECT_FALSE(Decode(enc, 0, Hex(kEncrypted0),
                      Meta({{"content-encoding", kEncoding}, {"s3backer-hmac", kHmac0},
                            {"s3backer-blocksize", "4096"}, {"s3backer-filesize", "1048576"}}),
                      &out));
  EXPECT_EQ(out, HelloBlock());
  EXPECT_FALSE(Decode(enc, 5, Hex(kEncrypted5), Meta({{"content-encoding", kEncoding}, {"s3backer-hmac", kHmac5}}),
                      &out));
  EXPECT_EQ(out, AbcBlock());
  // A raw object of an unencrypted volume is the block itself.
  EXPECT_FALSE(Decode(MakeCodec(nullptr), 7, AbcBlock(), Meta({}), &out));
  EXPECT_EQ(out, AbcBlock());
}

TEST(S3backerCodec, WritesWhatS3backerWrites) {
  const auto check = [](const BlockCodec& c, BlockNum b, const Bytes& block, const Bytes& want,
                        const ObjectMeta& want_meta) {
    Bytes scratch(c.max_object_size());
    std::span<const std::uint8_t> object;
    ObjectMeta meta;
    ASSERT_FALSE(c.Encode(b, block, scratch, &object, &meta));
    EXPECT_EQ(Bytes(object.begin(), object.end()), want);
    EXPECT_EQ(meta.pairs.size(), want_meta.pairs.size());
    for (const auto& [k, v] : want_meta.pairs) {
      ASSERT_NE(meta.Find(k), nullptr) << k;
      EXPECT_EQ(*meta.Find(k), v) << k;
    }
  };
  check(MakeCodec(nullptr, {Compression::kDeflate, 6}), 0, HelloBlock(), Hex(kDeflated0),
        Meta({{"content-encoding", "deflate"}, {"s3backer-blocksize", "4096"}, {"s3backer-filesize", "1048576"}}));
  check(MakeCodec(TestKeys()), 0, HelloBlock(), Hex(kEncrypted0),
        Meta({{"content-encoding", kEncoding},
              {"s3backer-hmac", kHmac0},
              {"s3backer-blocksize", "4096"},
              {"s3backer-filesize", "1048576"}}));
  check(MakeCodec(TestKeys()), 5, AbcBlock(), Hex(kEncrypted5),
        Meta({{"content-encoding", kEncoding}, {"s3backer-hmac", kHmac5}}));
  // Unencrypted without compression: the block itself, no headers but
  // block 0's.
  check(MakeCodec(nullptr), 5, AbcBlock(), AbcBlock(), Meta({}));
}

TEST(S3backerCodec, RoundTripsIncompressibleBlocks) {
  Bytes block(4096);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 13);
  for (auto keys : {std::shared_ptr<const s3backer::Keys>(), TestKeys()}) {
    const auto c = MakeCodec(keys, {Compression::kDeflate, 1});
    Bytes scratch(c.max_object_size());
    std::span<const std::uint8_t> object;
    ObjectMeta meta;
    ASSERT_FALSE(c.Encode(9, block, scratch, &object, &meta));
    Bytes out;
    EXPECT_FALSE(Decode(c, 9, Bytes(object.begin(), object.end()), meta, &out));
    EXPECT_EQ(out, block);
  }
}

TEST(S3backerCodec, BadObjectsAreErrorsNeverData) {
  const auto enc = MakeCodec(TestKeys());
  const ObjectMeta meta0 = Meta({{"content-encoding", kEncoding}, {"s3backer-hmac", kHmac0}});
  Bytes out;
  std::string detail;
  // Wrong password: the HMAC does not match.
  EXPECT_EQ(Decode(MakeCodec(TestKeys("wrong")), 0, Hex(kEncrypted0), meta0, &out, &detail), Errc::kAuthFailed);
  EXPECT_NE(detail.find("HMAC mismatch"), std::string::npos) << detail;
  // Moved to another block.
  EXPECT_EQ(Decode(enc, 1, Hex(kEncrypted0), meta0, &out), Errc::kAuthFailed);
  // Truncated, or a flipped byte.
  Bytes cut = Hex(kEncrypted0);
  cut.resize(32);
  EXPECT_EQ(Decode(enc, 0, cut, meta0, &out), Errc::kAuthFailed);
  Bytes flipped = Hex(kEncrypted0);
  flipped[20] ^= 1;
  EXPECT_EQ(Decode(enc, 0, flipped, meta0, &out), Errc::kAuthFailed);
  // Wrong, missing or malformed HMAC.
  EXPECT_EQ(Decode(enc, 0, Hex(kEncrypted0), Meta({{"content-encoding", kEncoding}, {"s3backer-hmac", kHmac5}}), &out),
            Errc::kAuthFailed);
  EXPECT_EQ(Decode(enc, 0, Hex(kEncrypted0), Meta({{"content-encoding", kEncoding}}), &out), Errc::kAuthFailed);
  EXPECT_EQ(Decode(enc, 0, Hex(kEncrypted0), Meta({{"content-encoding", kEncoding}, {"s3backer-hmac", "x"}}), &out),
            Errc::kAuthFailed);
  // Not encrypted, on an encrypted volume; encrypted, without a password.
  EXPECT_EQ(Decode(enc, 0, Hex(kDeflated0), Meta({{"content-encoding", "deflate"}}), &out), Errc::kAuthFailed);
  EXPECT_EQ(Decode(MakeCodec(nullptr), 0, Hex(kEncrypted0), meta0, &out), Errc::kCorruptBlock);
  // Deflate: truncated, or inflating to the wrong size.
  const auto plain = MakeCodec(nullptr);
  Bytes short_deflate = Hex(kDeflated0);
  short_deflate.resize(30);
  EXPECT_EQ(Decode(plain, 0, short_deflate, Meta({{"content-encoding", "deflate"}}), &out, &detail),
            Errc::kCorruptBlock);
  {
    Bytes half(2048, 'a'), scratch(4096);
    uLongf n = scratch.size();
    ASSERT_EQ(compress2(scratch.data(), &n, half.data(), half.size(), 6), Z_OK);
    scratch.resize(n);
    EXPECT_EQ(Decode(plain, 0, scratch, Meta({{"content-encoding", "deflate"}}), &out, &detail), Errc::kCorruptBlock);
    EXPECT_NE(detail.find("not the block size"), std::string::npos) << detail;
    Bytes twice(8192, 'a');
    n = 8192;
    scratch.resize(8192);
    ASSERT_EQ(compress2(scratch.data(), &n, twice.data(), twice.size(), 6), Z_OK);
    scratch.resize(n);
    EXPECT_EQ(Decode(plain, 0, scratch, Meta({{"content-encoding", "deflate"}}), &out), Errc::kCorruptBlock);
  }
  // Raw of the wrong size, unknown encodings, s3bd's encodings.
  EXPECT_EQ(Decode(plain, 0, Bytes(4095, 1), Meta({}), &out), Errc::kBadBlockSize);
  EXPECT_EQ(Decode(plain, 0, Bytes(4096, 1), Meta({{"content-encoding", "gzip"}}), &out), Errc::kCorruptBlock);
  EXPECT_EQ(Decode(plain, 0, Bytes(4096, 1), Meta({{"s3bd-encoding", "zstd"}}), &out), Errc::kCorruptBlock);
  EXPECT_EQ(Decode(plain, 0, Bytes(plain.max_object_size() + 1, 1), Meta({}), &out), Errc::kCorruptBlock);
}

}  // namespace
}  // namespace s3bd::codec
