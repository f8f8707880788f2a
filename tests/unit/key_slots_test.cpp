// Key slots (wrap, open, the slot text and its hostile-input parser), the
// Argon2id library against RFC 9106, and where passphrases come from.
#include "s3bd/codec/key_slots.h"

#include <argon2.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "s3bd/core/errors.h"
#include "test_util.h"

namespace s3bd::codec {
namespace {

// Fast parameters: a derivation takes well under a millisecond.
constexpr KdfParams kFast{1, 64, 1};
const std::string kVolume = "0123456789abcdef0123456789abcdef";

DataKey KeyOf(std::uint8_t fill) {
  std::array<std::uint8_t, DataKey::kSize> b;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(fill + i);
  return DataKey(b);
}

bool SameKey(const DataKey& a, const DataKey& b) {
  return std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin());
}

// Sets (or, with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(KeySlots, MakeAndOpenRoundTrip) {
  const DataKey key = DataKey::Random();
  const KeySlot slot = MakeKeySlot(3, key, "correct horse", kFast, kVolume);
  EXPECT_EQ(slot.id, 3u);
  EXPECT_EQ(slot.kdf, kFast);
  EXPECT_EQ(slot.wrapped.size(), 60u);
  DataKey out;
  std::uint32_t id = 99;
  ASSERT_FALSE(OpenKeySlots({slot}, "correct horse", kVolume, &out, &id));
  EXPECT_TRUE(SameKey(out, key));
  EXPECT_EQ(id, 3u);
  // A second slot of the same key, under another passphrase: each opens
  // with its own passphrase, and says which it was.
  const KeySlot other = MakeKeySlot(5, key, "battery staple", kFast, kVolume);
  EXPECT_NE(other.salt, slot.salt);
  ASSERT_FALSE(OpenKeySlots({slot, other}, "battery staple", kVolume, &out, &id));
  EXPECT_TRUE(SameKey(out, key));
  EXPECT_EQ(id, 5u);
}

TEST(KeySlots, WrongPassphrase) {
  const KeySlot slot = MakeKeySlot(0, KeyOf(1), "right", kFast, kVolume);
  DataKey out = KeyOf(7);
  EXPECT_EQ(OpenKeySlots({slot}, "wrong", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase));
  EXPECT_EQ(OpenKeySlots({slot}, "righ", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase));
  EXPECT_EQ(OpenKeySlots({}, "right", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase));
  EXPECT_TRUE(SameKey(out, KeyOf(7))) << "a failed open must not touch the key";
}

TEST(KeySlots, MovedSlotDoesNotOpen) {
  KeySlot slot = MakeKeySlot(1, KeyOf(1), "pw", kFast, kVolume);
  DataKey out;
  ASSERT_FALSE(OpenKeySlots({slot}, "pw", kVolume, &out, nullptr));
  EXPECT_EQ(OpenKeySlots({slot}, "pw", "fedcba9876543210fedcba9876543210", &out, nullptr),
            make_error_code(Errc::kWrongPassphrase));
  EXPECT_EQ(OpenKeySlots({slot}, "pw", kVolume + "0", &out, nullptr), make_error_code(Errc::kWrongPassphrase));
  // The same line written under another id (its text edited) does not open.
  std::string text = FormatKeySlot(slot);
  ASSERT_EQ(text[0], '1');
  text[0] = '2';
  std::string why;
  const auto moved = ParseKeySlot(text, &why);
  ASSERT_TRUE(moved) << why;
  EXPECT_EQ(OpenKeySlots({*moved}, "pw", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase));
}

TEST(KeySlots, EditedKdfParametersDoNotOpen) {
  const KeySlot slot = MakeKeySlot(0, KeyOf(1), "pw", KdfParams{2, 64, 2}, kVolume);
  const std::string text = FormatKeySlot(slot);
  ASSERT_EQ(text.substr(0, 16), "0 argon2id 2 64 ");
  for (const char* edited : {"0 argon2id 1 64 2 ", "0 argon2id 2 72 2 ", "0 argon2id 2 64 1 "}) {
    std::string why;
    const auto e = ParseKeySlot(std::string(edited) + text.substr(18), &why);
    ASSERT_TRUE(e) << why;
    DataKey out;
    EXPECT_EQ(OpenKeySlots({*e}, "pw", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase)) << edited;
  }
  DataKey out;
  EXPECT_FALSE(OpenKeySlots({*ParseKeySlot(text, nullptr)}, "pw", kVolume, &out, nullptr));
}

TEST(KeySlots, TamperedWrappedKeyDoesNotOpen) {
  const KeySlot slot = MakeKeySlot(0, KeyOf(1), "pw", kFast, kVolume);
  // One flipped bit anywhere: nonce (0-11), ciphertext (12-43), tag (44-59).
  for (std::size_t i = 0; i < slot.wrapped.size(); ++i) {
    KeySlot t = slot;
    t.wrapped[i] ^= 0x10;
    DataKey out;
    EXPECT_EQ(OpenKeySlots({t}, "pw", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase)) << i;
  }
  KeySlot salted = slot;
  salted.salt[0] ^= 1;
  DataKey out;
  EXPECT_EQ(OpenKeySlots({salted}, "pw", kVolume, &out, nullptr), make_error_code(Errc::kWrongPassphrase));
}

TEST(KeySlots, OpenSkipsSlotsOutsideTheLimits) {
  const KeySlot good = MakeKeySlot(4, KeyOf(9), "pw", kFast, kVolume);
  KeySlot short_wrap = good, huge = good, bad_id = good;
  short_wrap.wrapped.pop_back();
  huge.kdf.m_cost_kib = 5u << 20;  // 5 GiB: never derived
  bad_id.id = kMaxKeySlots;
  DataKey out;
  std::uint32_t id = 0;
  EXPECT_EQ(OpenKeySlots({short_wrap, huge, bad_id}, "pw", kVolume, &out, &id),
            make_error_code(Errc::kWrongPassphrase));
  ASSERT_FALSE(OpenKeySlots({short_wrap, huge, bad_id, good}, "pw", kVolume, &out, &id));
  EXPECT_EQ(id, 4u);
  EXPECT_TRUE(SameKey(out, KeyOf(9)));
  // More slots than a volume can have: refused before any KDF runs.
  const std::vector<KeySlot> many(kMaxKeySlots + 1, good);
  EXPECT_EQ(OpenKeySlots(many, "pw", kVolume, &out, &id), make_error_code(Errc::kBadMetadata));
}

TEST(KeySlots, MakeRefusesBadIdAndParameters) {
  EXPECT_THROW(MakeKeySlot(kMaxKeySlots, KeyOf(1), "pw", kFast, kVolume), StartupError);
  EXPECT_THROW(MakeKeySlot(0, KeyOf(1), "pw", KdfParams{0, 64, 1}, kVolume), StartupError);
  EXPECT_THROW(MakeKeySlot(0, KeyOf(1), "pw", KdfParams{1, 64, 9}, kVolume), StartupError);  // 64 < 8*9
  EXPECT_THROW(MakeKeySlot(0, KeyOf(1), "pw", KdfParams{1, 64, 17}, kVolume), StartupError);
}

TEST(KeySlots, FormatParseRoundTrip) {
  const KeySlot slot = MakeKeySlot(7, KeyOf(1), "pw", KdfParams{16, 128, 16}, kVolume);
  const std::string text = FormatKeySlot(slot);
  EXPECT_EQ(text.size(), 2u + 9 + 3 + 4 + 3 + 33 + 120);
  EXPECT_EQ(text.substr(0, 21), "7 argon2id 16 128 16 ");
  std::string why;
  const auto back = ParseKeySlot(text, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->id, slot.id);
  EXPECT_EQ(back->kdf, slot.kdf);
  EXPECT_EQ(back->salt, slot.salt);
  EXPECT_EQ(back->wrapped, slot.wrapped);
  EXPECT_EQ(FormatKeySlot(*back), text);

  // A fixed line, and the limits themselves, are accepted.
  const std::string salt(32, 'a'), wrapped = std::string(60, '0') + std::string(60, 'f');
  for (const char* ok : {"0 argon2id 1 8 1 ", "7 argon2id 16 4194304 16 ", "3 argon2id 3 262144 1 ",
                                "1 argon2id 2 128 16 "}) {
    const std::string line = std::string(ok) + salt + " " + wrapped;
    const auto s = ParseKeySlot(line, &why);
    ASSERT_TRUE(s) << line << ": " << why;
    EXPECT_EQ(FormatKeySlot(*s), line);
  }
  const auto s = ParseKeySlot("0 argon2id 1 8 1 " + salt + " " + wrapped, nullptr);
  EXPECT_EQ(s->salt[0], 0xaa);
  EXPECT_EQ(s->wrapped[0], 0x00);
  EXPECT_EQ(s->wrapped[59], 0xff);
}

TEST(KeySlots, ParseRefusesMalformed) {
  const std::string salt(32, 'a'), wrapped(120, 'b');
  const std::string tail = " " + salt + " " + wrapped;
  const std::string good = "0 argon2id 1 64 1" + tail;
  ASSERT_TRUE(ParseKeySlot(good, nullptr));
  const std::vector<std::string> bad = {
      "",
      " ",
      "0",
      "0 argon2id 1 64 1",                             // 5 fields
      "0 argon2id 1 64 1 " + salt,                     // 6 fields
      good + " x",                                     // 8 fields
      good + " ",                                      // trailing space
      " " + good,                                      // leading space
      "0  argon2id 1 64 1" + tail,                     // double space
      "0\targon2id 1 64 1" + tail,                     // tab
      good + "\n",                                     // newline
      "0 argon2id 1 64 1 " + salt + "  " + wrapped,    // double space before wrapped
      "8 argon2id 1 64 1" + tail,                      // id 8
      "4294967295 argon2id 1 64 1" + tail,             // id huge
      "99999999999999999999 argon2id 1 64 1" + tail,   // id overflows
      "-0 argon2id 1 64 1" + tail,                     // sign
      "+0 argon2id 1 64 1" + tail,
      "00 argon2id 1 64 1" + tail,                     // leading zero
      "0 argon2i 1 64 1" + tail,                       // other KDFs
      "0 argon2d 1 64 1" + tail,
      "0 Argon2id 1 64 1" + tail,
      "0 pbkdf2 1 64 1" + tail,
      "0 argon2id 0 64 1" + tail,                      // t_cost 0
      "0 argon2id 17 64 1" + tail,                     // t_cost 17
      "0 argon2id 4294967296 64 1" + tail,             // t_cost > u32
      "0 argon2id 01 64 1" + tail,
      "0 argon2id 1 7 1" + tail,                       // m below 8 KiB
      "0 argon2id 1 5242880 1" + tail,                 // 5 GiB
      "0 argon2id 1 4194305 1" + tail,                 // 4 GiB + 1 KiB
      "0 argon2id 1 64 9" + tail,                      // m < 8 KiB per lane
      "0 argon2id 1 64 0" + tail,                      // no lanes
      "0 argon2id 1 1024 17" + tail,                   // 17 lanes
      "0 argon2id 1 0x40 1" + tail,
      "0 argon2id 1 64.0 1" + tail,
      "0 argon2id 1 64 1 " + std::string(32, 'A') + " " + wrapped,        // upper-case salt
      "0 argon2id 1 64 1 " + salt + " " + std::string(120, 'B'),          // upper-case wrapped
      "0 argon2id 1 64 1 " + std::string(31, 'a') + " " + wrapped,        // truncated salt
      "0 argon2id 1 64 1 " + std::string(33, 'a') + " " + wrapped,
      "0 argon2id 1 64 1 " + std::string(30, 'a') + " " + wrapped,
      "0 argon2id 1 64 1 " + salt + " " + std::string(119, 'b'),          // truncated wrapped
      "0 argon2id 1 64 1 " + salt + " " + std::string(118, 'b'),
      "0 argon2id 1 64 1 " + salt + " " + std::string(122, 'b'),
      "0 argon2id 1 64 1 " + salt + " " + std::string(119, 'b') + "g",   // not hex
      "0 argon2id 1 64 1 " + std::string(31, 'a') + "z " + wrapped,
      "0 argon2id 1 64 1 " + salt + " " + std::string(118, 'b') + "\xc3\xa9",  // non-ASCII
      std::string("0 argon2id 1 64 1 ") + '\0' + salt.substr(1) + " " + wrapped,
      std::string(10000, '7'),
  };
  for (const std::string& b : bad) {
    std::string why;
    EXPECT_FALSE(ParseKeySlot(b, &why)) << "accepted: " << b;
    EXPECT_FALSE(why.empty()) << b;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
    EXPECT_LT(why.size(), 160u) << "the reason must stay short: " << why;
  }
  // The reason names the problem.
  std::string why;
  ParseKeySlot("0 argon2id 1 5242880 1" + tail, &why);
  EXPECT_NE(why.find("m_cost"), std::string::npos) << why;
  ParseKeySlot("8 argon2id 1 64 1" + tail, &why);
  EXPECT_NE(why.find("id"), std::string::npos) << why;
  EXPECT_FALSE(ParseKeySlot("bad", nullptr));  // no reason wanted: fine too
}

// RFC 9106 section 5.3 (Argon2id, version 0x13): password 32 x 0x01, salt
// 16 x 0x02, secret 8 x 0x03, associated data 12 x 0x04, 32 KiB, 3 passes,
// 4 lanes, 32-byte tag. Checks the system's libargon2 and its ABI.
TEST(KeySlots, Argon2idRfc9106Vector) {
  std::array<std::uint8_t, 32> pwd, out{};
  std::array<std::uint8_t, 16> salt;
  std::array<std::uint8_t, 8> secret;
  std::array<std::uint8_t, 12> ad;
  pwd.fill(0x01);
  salt.fill(0x02);
  secret.fill(0x03);
  ad.fill(0x04);
  argon2_context ctx{};
  ctx.out = out.data();
  ctx.outlen = out.size();
  ctx.pwd = pwd.data();
  ctx.pwdlen = pwd.size();
  ctx.salt = salt.data();
  ctx.saltlen = salt.size();
  ctx.secret = secret.data();
  ctx.secretlen = secret.size();
  ctx.ad = ad.data();
  ctx.adlen = ad.size();
  ctx.t_cost = 3;
  ctx.m_cost = 32;
  ctx.lanes = 4;
  ctx.threads = 4;
  ctx.version = ARGON2_VERSION_13;
  ASSERT_EQ(argon2id_ctx(&ctx), ARGON2_OK);
  const std::array<std::uint8_t, 32> expected = {
      0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53, 0xc9,
      0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59};
  EXPECT_EQ(out, expected);
}

TEST(KeySlots, DefaultKdfParamsAreWithinTheParseLimits) {
  ScopedEnv env("S3BD_TEST_KDF", std::nullopt);
  const KdfParams k = DefaultKdfParams();
  KeySlot slot;
  slot.kdf = k;
  slot.wrapped.assign(60, 0);
  std::string why;
  const auto back = ParseKeySlot(FormatKeySlot(slot), &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->kdf, k);
  // And no weaker than the floor a real volume should have.
  EXPECT_GE(k.m_cost_kib, 64u * 1024);
}

TEST(KeySlots, TestKdfOverride) {
  {
    ScopedEnv env("S3BD_TEST_KDF", "1,64,2");
    EXPECT_EQ(DefaultKdfParams(), (KdfParams{1, 64, 2}));
  }
  {
    ScopedEnv env("S3BD_TEST_KDF", "16,4194304,16");
    EXPECT_EQ(DefaultKdfParams(), (KdfParams{16, 4194304, 16}));
  }
  for (const char* bad : {"1", "1,64", "1,64,1,", ",1,64,1", "1,64,1,1", "a,b,c", "01,64,1", "1, 64,1", " 1,64,1",
                          "1,64,1 ", "17,64,1", "0,64,1", "1,7,1", "1,64,9", "1,64,0", "1,5242880,1", "-1,64,1",
                          "+1,64,1", "99999999999,64,1", "1,,1", "1;64;1"}) {
    ScopedEnv env("S3BD_TEST_KDF", bad);
    EXPECT_THROW(DefaultKdfParams(), StartupError) << bad;
  }
}

TEST(KeySlots, SecretMoves) {
  Secret a(std::string("hunter2"));
  EXPECT_EQ(a.view(), "hunter2");
  Secret b(std::string(100, 'x'));
  b = std::move(a);
  EXPECT_EQ(b.view(), "hunter2");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is wiped, empty
  Secret c(std::move(b));
  EXPECT_EQ(c.view(), "hunter2");
  EXPECT_TRUE(Secret().empty());
}

// --- ReadPassphrase --------------------------------------------------------

class Passphrase : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  // Runs ReadPassphrase with no S3BD_PASSPHRASE_FILE and returns the
  // StartupError's message ("" if none was thrown).
  static std::string ErrorOf(const std::string& file) {
    try {
      ReadPassphrase(file, "test", false);
    } catch (const StartupError& e) {
      return e.what();
    }
    return "";
  }
  test::TempDir dir_;
  ScopedEnv no_env_{"S3BD_PASSPHRASE_FILE", std::nullopt};
};

TEST_F(Passphrase, FileMode0600Accepted) {
  const std::string f = Write("pw", "s3cret", 0600);
  EXPECT_EQ(ReadPassphrase(f, "test", false).view(), "s3cret");
  EXPECT_EQ(ReadPassphrase(f, "test", true).view(), "s3cret");  // a file needs no confirmation
  EXPECT_EQ(ReadPassphrase(Write("ro", "s3cret", 0400), "test", false).view(), "s3cret");
}

TEST_F(Passphrase, FileAccessibleByOthersRefused) {
  const std::string f = Write("pw", "s3cret\n", 0644);
  try {
    ReadPassphrase(f, "test", false);
    FAIL() << "mode 0644 accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "passphrase file " + f +
                                         " is accessible by group or others (mode 0644); chmod 600 it");
  }
  for (mode_t m : {0640, 0604, 0601, 0610, 0660}) {
    ASSERT_EQ(::chmod(f.c_str(), m), 0);
    EXPECT_THROW(ReadPassphrase(f, "test", false), UsageError) << std::oct << m;
  }
}

TEST_F(Passphrase, SymlinkFollowedButTargetModeChecked) {
  const std::string target = Write("target", "s3cret\n", 0600);
  const std::string link = dir_.path() + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(ReadPassphrase(link, "test", false).view(), "s3cret");
  ASSERT_EQ(::chmod(target.c_str(), 0644), 0);
  EXPECT_THROW(ReadPassphrase(link, "test", false), UsageError);
}

TEST_F(Passphrase, ExactlyOneTrailingNewlineDropped) {
  EXPECT_EQ(ReadPassphrase(Write("a", "s3cret\n", 0600), "t", false).view(), "s3cret");
  EXPECT_EQ(ReadPassphrase(Write("b", "s3cret\r\n", 0600), "t", false).view(), "s3cret");
  EXPECT_EQ(ReadPassphrase(Write("c", "s3cret\n\n", 0600), "t", false).view(), "s3cret\n");
  EXPECT_EQ(ReadPassphrase(Write("d", " two words \n", 0600), "t", false).view(), " two words ");
  EXPECT_EQ(ReadPassphrase(Write("e", "s3cret\r", 0600), "t", false).view(), "s3cret\r");
}

TEST_F(Passphrase, EmptyRefused) {
  for (const char* content : {"", "\n", "\r\n"}) {
    const std::string f = Write("empty", content, 0600);
    EXPECT_NE(ErrorOf(f).find("is empty"), std::string::npos) << ErrorOf(f);
  }
}

TEST_F(Passphrase, LongestAcceptedLongerRefused) {
  const std::string longest(4096, 'p');
  EXPECT_EQ(ReadPassphrase(Write("a", longest + "\n", 0600), "t", false).view(), longest);
  EXPECT_EQ(ReadPassphrase(Write("b", longest + "\r\n", 0600), "t", false).view(), longest);
  const std::string msg = ErrorOf(Write("c", longest + "q", 0600));
  EXPECT_NE(msg.find("too long"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("pppp"), std::string::npos) << "the secret must stay out of messages";
  EXPECT_NE(ErrorOf(Write("d", std::string(100000, 'p'), 0600)).find("too long"), std::string::npos);
}

TEST_F(Passphrase, NulRefused) {
  const std::string msg = ErrorOf(Write("nul", std::string("abc\0def", 7), 0600));
  EXPECT_NE(msg.find("NUL"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("abc"), std::string::npos) << msg;
}

TEST_F(Passphrase, MissingFileOrDirectoryRefused) {
  EXPECT_NE(ErrorOf(dir_.path() + "/none").find("cannot open"), std::string::npos);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0700), 0);
  EXPECT_THROW(ReadPassphrase(dir_.path(), "t", false), UsageError);
}

TEST_F(Passphrase, EnvironmentFileUsedWhenNoFileGiven) {
  const std::string env_file = Write("env", "from-env\n", 0600);
  const std::string arg_file = Write("arg", "from-arg\n", 0600);
  ScopedEnv env("S3BD_PASSPHRASE_FILE", env_file);
  EXPECT_EQ(ReadPassphrase("", "test", true).view(), "from-env");
  EXPECT_EQ(ReadPassphrase(arg_file, "test", false).view(), "from-arg");
  ASSERT_EQ(::chmod(env_file.c_str(), 0644), 0);
  EXPECT_THROW(ReadPassphrase("", "test", false), UsageError);
}

TEST_F(Passphrase, NoFileAndNoTerminal) {
  // With a controlling terminal ReadPassphrase would prompt on it (and wait
  // for a human): this part can only run without one, as under ctest in CI.
  const int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty >= 0) {
    ::close(tty);
    GTEST_SKIP() << "/dev/tty opens (a controlling terminal): ReadPassphrase would prompt";
  }
  EXPECT_EQ(ErrorOf(""), "no passphrase: use --passphrase-file FILE or S3BD_PASSPHRASE_FILE (no terminal to ask on)");
}

}  // namespace
}  // namespace s3bd::codec
