// What a GET accepts as data: a body whose CRC-32C header or MD5 ETag
// matches it. A body that arrives with neither (a proxy stripped them) is a
// corrupt block, retried and then refused, never data; and on a volume whose
// objects all carry a CRC-32C (require_crc32c), an ETag alone is not enough.
#include <gtest/gtest.h>

#include <string>

#include "s3_test_support.h"
#include "scripted_http_server.h"
#include "s3bd/core/errors.h"
#include "s3bd/s3/crypto.h"

namespace s3bd::test {
namespace {

class S3Integrity : public ::testing::Test {
 protected:
  // Every GET answers `body` with these headers.
  void Serve(std::string body, std::vector<std::pair<std::string, std::string>> headers) {
    server_.SetHandler([body, headers](const RecordedRequest&, httplib::Response& res) {
      res.status = 200;
      for (const auto& [k, v] : headers) res.set_header(k, v);
      res.set_content(body, "application/octet-stream");
    });
  }
  std::error_code Get(bool require_crc32c, std::string* detail) {
    s3::S3Client client(TestClientConfig(server_.url()), TestCredentials());
    std::vector<std::uint8_t> buf(64);
    std::size_t size = 0;
    bool found = false;
    const std::error_code ec =
        client.GetObjectInto("prefix/00000000", buf, &size, &found, detail, require_crc32c);
    retries_ = client.stats().retries();
    checksum_errors_ = client.stats().errors(s3::S3Stats::kChecksum);
    return ec;
  }
  ScriptedHttpServer server_;
  std::uint64_t retries_ = 0, checksum_errors_ = 0;
  const std::string data_ = "the block's data";
  const std::string flipped_ = "the block's dat\x01";
};

TEST_F(S3Integrity, NoChecksumAtAllIsCorrupt) {
  Serve(flipped_, {});
  std::string detail;
  EXPECT_EQ(Get(false, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("arrived without a checksum"), std::string::npos) << detail;
  EXPECT_GT(retries_, 0u);
  EXPECT_EQ(checksum_errors_, 1u);
}

TEST_F(S3Integrity, Md5EtagAloneIsEnoughOnAnOlderVolume) {
  Serve(data_, {{"ETag", "\"" + s3::Md5Hex(s3::AsBytes(data_)) + "\""}});
  std::string detail;
  EXPECT_FALSE(Get(false, &detail)) << detail;
  // But not when every object of the volume carries a CRC-32C.
  EXPECT_EQ(Get(true, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("no x-amz-meta-s3bd-crc32c header"), std::string::npos) << detail;
}

TEST_F(S3Integrity, WrongEtagIsCorrupt) {
  Serve(flipped_, {{"ETag", "\"" + s3::Md5Hex(s3::AsBytes(data_)) + "\""}});
  std::string detail;
  EXPECT_EQ(Get(false, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("does not match its ETag"), std::string::npos) << detail;
}

TEST_F(S3Integrity, Crc32cIsChecked) {
  const std::string crc = s3::Crc32Hex(s3::Crc32c(s3::AsBytes(data_)));
  Serve(data_, {{std::string(s3::kCrc32cMetaHeader), crc}});
  std::string detail;
  EXPECT_FALSE(Get(true, &detail)) << detail;
  Serve(flipped_, {{std::string(s3::kCrc32cMetaHeader), crc}});
  EXPECT_EQ(Get(true, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("does not match its CRC-32C"), std::string::npos) << detail;
}

TEST_F(S3Integrity, SseKmsObjectWithoutCrcCannotBeCheckedAndIsAccepted) {
  // Its ETag is not the data's MD5: written by another tool with SSE-KMS,
  // there is nothing to check it with (documented).
  Serve(data_, {{"ETag", "\"0123456789abcdef0123456789abcdef\""}, {"x-amz-server-side-encryption", "aws:kms"}});
  std::string detail;
  EXPECT_FALSE(Get(false, &detail)) << detail;
  EXPECT_EQ(Get(true, &detail), make_error_code(Errc::kCorruptBlock));
}

}  // namespace
}  // namespace s3bd::test
