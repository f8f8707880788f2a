// Size parsing, the volume metadata object and geometry decisions.
#include "s3bd/core/geometry.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "s3bd/core/errors.h"
#include "s3bd/s3/object_key.h"
#include "s3bd/store/directory_store.h"

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

VolumeMeta Meta(Geometry g, std::string id = "", bool crc32c = false) {
  VolumeMeta m;
  m.geometry = g;
  m.id = std::move(id);
  m.crc32c = crc32c;
  return m;
}

TEST(VolumeMeta, RoundTrip) {
  Geometry g{1 << 20, 1024};
  Geometry back = DecodeVolumeMeta(EncodeVolumeMeta(Meta(g))).geometry;
  EXPECT_EQ(back.block_size, g.block_size);
  EXPECT_EQ(back.num_blocks, g.num_blocks);
}

TEST(VolumeMeta, VolumeId) {
  const Geometry g{1 << 20, 1024};
  const std::string id = NewVolumeId();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_NE(id, NewVolumeId());
  VolumeMeta back = DecodeVolumeMeta(EncodeVolumeMeta(Meta(g, id)));
  EXPECT_EQ(back.geometry.num_blocks, 1024u);
  EXPECT_EQ(back.id, id);
  // Metadata written before volumes had ids still works, with no id.
  back = DecodeVolumeMeta("s3bd-volume 1\nsize 4096\nblock-size 4096\n");
  EXPECT_EQ(back.geometry.num_blocks, 1u);
  EXPECT_EQ(back.id, "");
  for (const char* bad : {"s3bd-volume 1\nsize 4096\nblock-size 4096\nid 12\n",
                          "s3bd-volume 1\nsize 4096\nblock-size 4096\nid 0123456789ABCDEF0123456789abcdef\n"}) {
    EXPECT_THROW(DecodeVolumeMeta(bad), StartupError) << bad;
  }
}

TEST(VolumeMeta, Crc32cRecord) {
  const Geometry g{1 << 20, 1024};
  const std::string text = EncodeVolumeMeta(Meta(g, "", true));
  EXPECT_NE(text.find("\nchecksum-crc32c 1\n"), std::string::npos) << text;
  EXPECT_TRUE(DecodeVolumeMeta(text).crc32c);
  // Volumes created before the record say nothing: no requirement.
  EXPECT_FALSE(DecodeVolumeMeta(EncodeVolumeMeta(Meta(g))).crc32c);
  EXPECT_THROW(DecodeVolumeMeta("s3bd-volume 1\nsize 4096\nblock-size 4096\nchecksum-crc32c 2\n"), StartupError);
}

// An encrypted volume is format 2 (which s3bd versions without encryption
// refuse), with its cipher and key slots; the slots' own text is parsed by
// the key slots (key_slots.h).
TEST(VolumeMeta, EncryptedVolume) {
  VolumeMeta m = Meta(Geometry{1 << 20, 1024}, NewVolumeId(), true);
  m.cipher = "aes-256-gcm";
  m.key_slots = {"0 slot text", "3 another"};
  const std::string text = EncodeVolumeMeta(m);
  EXPECT_EQ(text.rfind("s3bd-volume 2\n", 0), 0u) << text;
  const VolumeMeta back = DecodeVolumeMeta(text);
  EXPECT_TRUE(back.encrypted());
  EXPECT_EQ(back.cipher, "aes-256-gcm");
  EXPECT_EQ(back.key_slots, m.key_slots);
  EXPECT_EQ(back.id, m.id);
  const std::string base = "s3bd-volume 2\nsize 4096\nblock-size 4096\nid " + m.id + "\n";
  for (const std::string& bad :
       {base, base + "encryption aes-256-gcm\n", base + "keyslot 0 x\n",
        base + "encryption aes-128-cbc\nkeyslot 0 x\n",
        base + "encryption aes-256-gcm\nencryption aes-256-gcm\nkeyslot 0 x\n",
        std::string("s3bd-volume 1\nsize 4096\nblock-size 4096\nencryption aes-256-gcm\nkeyslot 0 x\n"),
        base + "encryption aes-256-gcm\n" + [] {
          std::string nine;
          for (int i = 0; i < 9; ++i) nine += "keyslot x\n";
          return nine;
        }()}) {
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

// The message of the UsageError that `fn` throws; "" if it throws none, or
// "StartupError: " and the message for a StartupError that is not one.
template <typename Fn>
std::string UsageMessage(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  } catch (const StartupError& e) {
    return std::string("StartupError: ") + e.what();
  }
  return "";
}

bool IsUsage(const std::string& m) { return !m.empty() && m.rfind("StartupError: ", 0) != 0; }

constexpr std::uint64_t k8EiB = std::uint64_t{1} << 63;

TEST(SizeLimit, MaxVolumeSize) {
  EXPECT_EQ(kMaxSize, k8EiB - 1);
  EXPECT_EQ(MaxVolumeSize(4096), k8EiB - 4096);
  EXPECT_EQ(MaxVolumeSize(1 << 20), k8EiB - (1 << 20));
  EXPECT_EQ(MaxVolumeSize(64 << 20), k8EiB - (64 << 20));
}

TEST(SizeLimit, ParseSize) {
  EXPECT_EQ(ParseSize("8191P", "--size"), 8191ull << 50);
  EXPECT_EQ(ParseSize("9223372036854775807", "--size"), kMaxSize);
  for (const char* bad : {"8192P", "16383P", "16384P", "9223372036854775808", "8388608T", "18446744073709551615",
                          "99999999999999999999"}) {
    const std::string m = UsageMessage([&] { ParseSize(bad, "--size"); });
    EXPECT_NE(m.find("--size '" + std::string(bad) + "': too large: at most 8 EiB - 1 byte (9223372036854775807)"),
              std::string::npos)
        << bad << ": " << m;
  }
  // Every malformed value is a usage error (exit status 2).
  for (const char* bad : {"0", "x", "1Q", "-1"}) {
    EXPECT_TRUE(IsUsage(UsageMessage([&] { ParseSize(bad, "--size"); }))) << bad;
  }
}

TEST(SizeLimit, DecideGeometry) {
  for (std::uint64_t bs : {std::uint64_t{4096}, std::uint64_t{1} << 20, std::uint64_t{64} << 20}) {
    const auto d = DecideGeometry(std::nullopt, MaxVolumeSize(bs), bs, false, false);
    EXPECT_EQ(d.geometry.size(), MaxVolumeSize(bs));
    EXPECT_EQ(d.geometry.num_blocks, MaxVolumeSize(bs) / bs);
    // One block more is 8 EiB: too large, whether new or a resize.
    EXPECT_NE(UsageMessage([&] { DecideGeometry(std::nullopt, k8EiB, bs, false, false); }).find("too large"),
              std::string::npos);
    EXPECT_NE(UsageMessage([&] { DecideGeometry(Geometry{bs, 1}, k8EiB, std::nullopt, true, false); })
                  .find(std::to_string(MaxVolumeSize(bs))),
              std::string::npos);
    EXPECT_EQ(DecideGeometry(Geometry{bs, 1}, MaxVolumeSize(bs), std::nullopt, true, false).geometry.size(),
              MaxVolumeSize(bs));
  }
  // The largest block number still has a name that parses back, in a
  // directory store and as an S3 key (with and without a hash prefix).
  const BlockNum last = MaxVolumeSize(4096) / 4096 - 1;
  BlockNum back = 0;
  ASSERT_TRUE(ParseBlockName(BlockName(last), back)) << BlockName(last);
  EXPECT_EQ(back, last);
  for (bool hash : {false, true}) {
    const s3::KeyScheme scheme{"p/", hash};
    EXPECT_EQ(s3::ParseBlockKey(scheme, s3::BlockKey(scheme, last)), last);
  }
}

TEST(SizeLimit, VolumeMeta) {
  const Geometry largest{1 << 20, MaxVolumeSize(1 << 20) >> 20};
  EXPECT_EQ(DecodeVolumeMeta(EncodeVolumeMeta(Meta(largest))).geometry.size(), MaxVolumeSize(1 << 20));
  // Damaged metadata claiming 8 EiB or more (a whole number of blocks).
  for (const char* bad : {"s3bd-volume 1\nsize 9223372036854775808\nblock-size 1048576\n",
                          "s3bd-volume 1\nsize 18446744073708503040\nblock-size 1048576\n"}) {
    try {
      DecodeVolumeMeta(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const StartupError& e) {
      EXPECT_NE(std::string(e.what()).find("is damaged: size"), std::string::npos) << e.what();
      EXPECT_EQ(dynamic_cast<const UsageError*>(&e), nullptr) << "the store's damage is not a usage error";
    }
  }
}

// Which errors are about the command line alone (exit status 2) and which
// depend on the store (1).
TEST(DecideGeometry, UsageErrors) {
  EXPECT_TRUE(IsUsage(UsageMessage([] { DecideGeometry(std::nullopt, 1u << 30, 3000, false, false); })));
  EXPECT_TRUE(IsUsage(UsageMessage([] { DecideGeometry(std::nullopt, 1, std::nullopt, false, false); })));
  const Geometry stored{1 << 20, 1024};
  EXPECT_TRUE(IsUsage(UsageMessage([&] { DecideGeometry(stored, std::nullopt, 3000, false, false); })));
  for (const auto& fn : std::vector<std::function<void()>>{
           [] { DecideGeometry(std::nullopt, std::nullopt, std::nullopt, false, false); },
           [] { DecideGeometry(std::nullopt, 1u << 30, std::nullopt, false, true); },
           [&] { DecideGeometry(stored, 2u << 30, std::nullopt, false, false); },
           [&] { DecideGeometry(stored, std::nullopt, 4096, false, false); },
           [&] { DecideGeometry(stored, (1u << 30) + 4096, std::nullopt, true, false); }}) {
    const std::string m = UsageMessage(fn);
    EXPECT_EQ(m.rfind("StartupError: ", 0), 0u) << m;
  }
}

}  // namespace
}  // namespace s3bd
