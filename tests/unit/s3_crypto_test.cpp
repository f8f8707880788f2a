// Tests of the hash / MAC / encoding helpers (src/s3/crypto.cpp) against
// published test vectors (FIPS 180-2, RFC 1321, RFC 2202, RFC 4231, RFC 4648,
// and the CRC-32 check value of the CRC catalogue).
#include "s3bd/s3/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace s3bd::s3 {
namespace {

TEST(S3Crypto, HexEncode) {
  EXPECT_EQ(HexEncode(std::string_view("")), "");
  EXPECT_EQ(HexEncode(std::string_view("\x00\x7f\x80\xff", 4)), "007f80ff");
}

TEST(S3Crypto, Base64Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(std::string_view("")), "");
  EXPECT_EQ(Base64Encode(std::string_view("f")), "Zg==");
  EXPECT_EQ(Base64Encode(std::string_view("fo")), "Zm8=");
  EXPECT_EQ(Base64Encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(Base64Encode(std::string_view("foob")), "Zm9vYg==");
  EXPECT_EQ(Base64Encode(std::string_view("fooba")), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode(std::string_view("foobar")), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string_view("\xfb\xff\xbf", 3)), "+/+/");
}

TEST(S3Crypto, Sha256) {
  EXPECT_EQ(Sha256Hex(std::string_view("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(std::string_view("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(S3Crypto, Sha256OfBlockData) {
  // A 64 KiB block of zeros through the span overload equals the string one.
  const std::vector<std::uint8_t> block(65536, 0);
  EXPECT_EQ(Sha256Hex(ByteView(block)), Sha256Hex(std::string(65536, '\0')));
  EXPECT_EQ(Sha256Hex(ByteView(block)), "de2f256064a0af797747c2b97505dc0b9f3df0de4f489eac731c23ae9ca9cc31");
}

TEST(S3Crypto, HmacSha256Rfc4231) {
  // Test case 2.
  EXPECT_EQ(HexEncode(HmacSha256(std::string_view("Jefe"), std::string_view("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 1: key 0x0b * 20, "Hi There".
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), std::string_view("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 6: key longer than the block size.
  EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'),
                                 std::string_view("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(S3Crypto, HmacSha1Rfc2202) {
  EXPECT_EQ(HexEncode(HmacSha1(std::string_view("Jefe"), std::string_view("what do ya want for nothing?"))),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(HexEncode(HmacSha1(std::string(20, '\x0b'), std::string_view("Hi There"))),
            "b617318655057264e28bc0b6fb378c8ef146be00");
}

TEST(S3Crypto, EmptyKeyAndData) {
  // RFC-independent sanity: empty inputs are fine and deterministic.
  EXPECT_EQ(HexEncode(HmacSha256(std::string_view(""), std::string_view(""))),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(S3Crypto, Md5Rfc1321) {
  EXPECT_EQ(Md5Hex(std::string_view("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5Hex(std::string_view("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5Hex(std::string_view("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
  // Content-MD5 form.
  EXPECT_EQ(Md5Base64(std::string_view("")), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(Md5Base64(std::string_view("abc")), "kAFQmDzST7DWlj99KOF/cg==");
}

TEST(S3Crypto, Crc32cCheckValues) {
  // The standard check value of CRC-32C (Castagnoli), and RFC 3720's
  // (iSCSI) test patterns: 32 bytes of zeros, of ones, ascending.
  EXPECT_EQ(Crc32c(std::string_view("123456789")), 0xe3069283u);
  EXPECT_EQ(Crc32c(std::string_view("")), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62a8ab43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[static_cast<std::size_t>(i)] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46dd794eu);
  // The span overload on block data agrees with the string one.
  const std::vector<std::uint8_t> block(65536, 0);
  EXPECT_EQ(Crc32c(ByteView(block)), Crc32c(std::string(65536, '\0')));
  EXPECT_NE(Crc32c(ByteView(block)), 0u);
}

TEST(S3Crypto, Crc32cHardwareAndTableAgree) {
  // Every length 0..64 (the tails of the 8-byte loop) and a 1 MiB block, at
  // odd offsets.
  std::vector<std::uint8_t> data(1 << 20);
  std::uint32_t x = 12345;
  for (auto& b : data) b = static_cast<std::uint8_t>((x = x * 1103515245u + 12345u) >> 24);
  for (std::size_t n = 0; n <= 64; ++n) {
    const ByteView v(data.data() + 3, n);
    EXPECT_EQ(Crc32c(v), Crc32cPortable(v)) << n;
  }
  EXPECT_EQ(Crc32c(ByteView(data)), Crc32cPortable(ByteView(data)));
  EXPECT_EQ(Crc32c(ByteView(data.data() + 1, data.size() - 1)), Crc32cPortable(ByteView(data.data() + 1, data.size() - 1)));
}

TEST(S3Crypto, Crc32HexIsBigEndianLowercase) {
  EXPECT_EQ(Crc32Hex(0xcbf43926u), "cbf43926");
  EXPECT_EQ(Crc32Hex(0x0000abcdu), "0000abcd");
  EXPECT_EQ(Crc32Hex(0u), "00000000");
  EXPECT_EQ(Crc32Hex(0xffffffffu), "ffffffff");
  EXPECT_EQ(Crc32Hex(Crc32c(std::string_view("123456789"))), "e3069283");
}

TEST(S3Crypto, ParseCrc32Hex) {
  EXPECT_EQ(ParseCrc32Hex("cbf43926"), 0xcbf43926u);
  EXPECT_EQ(ParseCrc32Hex("CBF43926"), 0xcbf43926u);
  EXPECT_EQ(ParseCrc32Hex("00000000"), 0u);
  EXPECT_EQ(ParseCrc32Hex("0000abcd"), 0xabcdu);
  for (const char* bad : {"", "cbf4392", "cbf439260", "cbf4392g", " cbf4392", "cbf4392 ", "+bf43926", "0xf43926",
                          "-0000001"}) {
    EXPECT_EQ(ParseCrc32Hex(bad), std::nullopt) << "'" << bad << "'";
  }
  for (std::uint32_t v : {0u, 1u, 0x80000000u, 0xdeadbeefu, 0xffffffffu}) EXPECT_EQ(ParseCrc32Hex(Crc32Hex(v)), v);
}

}  // namespace
}  // namespace s3bd::s3
