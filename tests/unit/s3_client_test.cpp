// The HTTP and S3 clients against a scripted in-process HTTP server: retries
// and backoff really happen (requests are counted, pauses timed), errors get
// their one-line class messages, checksum (CRC-32C or ETag) mismatches are
// retried, listings follow continuation tokens, DeleteObjects is batched with
// Content-MD5, addressing and signing headers, and no secret ever reaches an
// error text or a log line. With the in-process test S3 server: the CRC-32
// metadata round trip, conditional GETs, and injected corruption.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "s3_test_support.h"
#include "s3bd/core/errors.h"
#include "s3bd/s3/crypto.h"
#include "s3bd/s3/http_client.h"
#include "s3bd/s3/instance_metadata.h"
#include "s3bd/s3/s3_client.h"
#include "s3bd/s3/sigv2.h"
#include "scripted_http_server.h"
#include "log_capture.h"
#include "test_util.h"

namespace s3bd {
namespace {

using namespace std::chrono_literals;
using s3::S3Client;
using test::RecordedRequest;

std::vector<std::uint8_t> Bytes(std::size_t n, std::uint64_t seed = 1) { return test::RandomBytes(n, seed); }

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

const std::string kCrcHeader(s3::kCrc32cMetaHeader);

std::string CrcHex(const std::vector<std::uint8_t>& data) { return s3::Crc32Hex(s3::Crc32c(data)); }

// The SigV2 Authorization header of a recorded request, computed afresh from
// the headers it arrived with.
std::string RecomputeSigV2(const RecordedRequest& r, const std::string& bucket, const std::string& key) {
  s3::SigV2Request v2;
  v2.method = r.method;
  v2.bucket = bucket;
  v2.key = key;
  for (const auto& [name, value] : r.headers) {
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower != "authorization") v2.headers.emplace_back(name, value);
  }
  s3::Credentials c;
  c.access_key_id = test::kTestAccessKey;
  c.secret_access_key = test::kTestSecret;
  return s3::SigV2AuthorizationHeader(v2, c);
}

class S3ClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<S3Client> Client(s3::S3ClientConfig c) {
    return std::make_unique<S3Client>(std::move(c), test::TestCredentials(/*with_token=*/true));
  }
  std::unique_ptr<S3Client> Client() { return Client(test::TestClientConfig(server_.url())); }

  test::ScriptedHttpServer server_;
};

using test::LogCapture;

TEST_F(S3ClientTest, GetSignsAndAddressesPathStyle) {
  const auto data = Bytes(4096);
  server_.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
    res.set_header("ETag", Quoted(s3::Md5Hex(data)));
    res.set_content(std::string(data.begin(), data.end()), "application/octet-stream");
  });
  auto c = Client();
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c->GetObject("prefix/my key+=&~ü", &body, &found, 1 << 20, &detail)) << detail;
  EXPECT_TRUE(found);
  EXPECT_EQ(body, std::string(data.begin(), data.end()));
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/bkt/prefix/my%20key%2B%3D%26~%C3%BC");
  EXPECT_EQ(reqs[0].Header("Host"), "127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_EQ(reqs[0].Header("Authorization").rfind("AWS4-HMAC-SHA256 Credential=AKIDTESTEXAMPLE/", 0), 0u);
  EXPECT_EQ(reqs[0].Header("x-amz-content-sha256"), s3::kEmptyPayloadSha256);
  EXPECT_EQ(reqs[0].Header("x-amz-security-token"), test::kTestSessionToken);
  EXPECT_FALSE(reqs[0].Header("x-amz-date").empty());
}

TEST_F(S3ClientTest, VirtualHostAddressing) {
  auto cfg = test::TestClientConfig("http://localhost:" + std::to_string(server_.port()));
  cfg.addressing = s3::Addressing::kVirtualHost;
  auto c = Client(cfg);
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/prefix/k");
  EXPECT_EQ(reqs[0].Header("Host"), "bkt.localhost:" + std::to_string(server_.port()));
}

// Object keys are opaque to S3: "." and ".." segments (which UriEncode keeps,
// '.' being unreserved) must reach the server byte for byte, in the target
// that was signed, or a key could escape its bucket ("/bkt/a/../../other/x"
// would become "/other/x").
TEST_F(S3ClientTest, DotSegmentsInKeysAreSentAsIs) {
  const std::string key = "prefix/a/../../other/./evil";
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    res.set_header("ETag", Quoted(s3::Md5Hex(s3::AsBytes(r.body))));
  });
  for (s3::AuthMode auth : {s3::AuthMode::kSigV4, s3::AuthMode::kSigV2}) {
    server_.Clear();
    auto cfg = test::TestClientConfig(server_.url());
    cfg.auth = auth;
    auto c = Client(cfg);
    std::string detail;
    ASSERT_FALSE(c->PutObject(key, Bytes(100), &detail)) << detail;
    const auto reqs = server_.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].target, "/bkt/" + key);
    EXPECT_EQ(reqs[0].path, "/bkt/" + key);
    if (auth == s3::AuthMode::kSigV2) {
      EXPECT_EQ(reqs[0].Header("Authorization"), RecomputeSigV2(reqs[0], "bkt", key));
    }
  }
  // Virtual-hosted: the key alone is the path.
  server_.Clear();
  auto cfg = test::TestClientConfig("http://localhost:" + std::to_string(server_.port()));
  cfg.addressing = s3::Addressing::kVirtualHost;
  auto c = Client(cfg);
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c->GetObject("../x", &body, &found, 1 << 20, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/../x");
}

TEST_F(S3ClientTest, AnonymousRequestsAreUnsigned) {
  auto cfg = test::TestClientConfig(server_.url());
  cfg.auth = s3::AuthMode::kAnonymous;
  S3Client c(cfg, nullptr);
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c.GetObject("prefix/k", &body, &found, 1 << 20, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].Header("Authorization"), "");
}

TEST_F(S3ClientTest, SigV2SignsWithAmzDate) {
  auto cfg = test::TestClientConfig(server_.url());
  cfg.auth = s3::AuthMode::kSigV2;
  auto c = Client(cfg);
  const auto data = Bytes(100);
  std::string detail;
  ASSERT_FALSE(c->PutObject("prefix/k", data, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].Header("Authorization").rfind("AWS AKIDTESTEXAMPLE:", 0), 0u);
  EXPECT_FALSE(reqs[0].Header("x-amz-date").empty());
  EXPECT_EQ(reqs[0].Header("x-amz-content-sha256"), "");
}

// Without a payload hash the PUT carries Content-MD5, and the CRC-32
// metadata header is signed like every x-amz-* header.
TEST_F(S3ClientTest, SigV2PutSendsContentMd5AndSignsTheCrc32) {
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    res.set_header("ETag", Quoted(s3::Md5Hex(s3::AsBytes(r.body))));
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.auth = s3::AuthMode::kSigV2;
  auto c = Client(cfg);
  const auto data = Bytes(5000, 7);
  std::string detail;
  ASSERT_FALSE(c->PutObject("prefix/0000002a", data, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const RecordedRequest& r = reqs[0];
  EXPECT_EQ(r.Header("Content-MD5"), s3::Md5Base64(data));
  EXPECT_EQ(r.Header(kCrcHeader), CrcHex(data));
  const std::string auth = r.Header("Authorization");
  EXPECT_EQ(RecomputeSigV2(r, "bkt", "prefix/0000002a"), auth);
  // The signature covers the CRC-32: another value gives another one.
  RecordedRequest tampered = r;
  tampered.headers.erase(kCrcHeader);
  tampered.headers.emplace(kCrcHeader, "00000000");
  EXPECT_NE(RecomputeSigV2(tampered, "bkt", "prefix/0000002a"), auth);
}

TEST_F(S3ClientTest, MissingKeyIsAbsentNotAnError) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.status = 404;
    res.set_content(test::S3ErrorXml("NoSuchKey"), "application/xml");
  });
  auto c = Client();
  std::string body = "stale", detail;
  bool found = true;
  ASSERT_FALSE(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail));
  EXPECT_FALSE(found);
  EXPECT_TRUE(body.empty());
  EXPECT_FALSE(c->DeleteObject("prefix/k", &detail)) << "DELETE of a missing key succeeds";
  std::uint64_t size = 7;
  ASSERT_FALSE(c->HeadObject("prefix/k", &found, &size, &detail));
  EXPECT_FALSE(found);
  EXPECT_EQ(server_.count(), 3u) << "404 is never retried";
}

TEST_F(S3ClientTest, HeadReturnsSize) {
  server_.SetHandler([](const RecordedRequest& r, httplib::Response& res) {
    EXPECT_EQ(r.method, "HEAD");
    res.set_content(std::string(1234, 'x'), "application/octet-stream");
  });
  auto c = Client();
  bool found = false;
  std::uint64_t size = 0;
  std::string detail;
  ASSERT_FALSE(c->HeadObject("prefix/k", &found, &size, &detail)) << detail;
  EXPECT_TRUE(found);
  EXPECT_EQ(size, 1234u);
}

TEST_F(S3ClientTest, ServerErrorsAreRetriedWithBackoff) {
  const auto data = Bytes(4096);
  int calls = 0;
  server_.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 500;
      res.set_content(test::S3ErrorXml("InternalError"), "application/xml");
      return;
    }
    res.set_header("ETag", Quoted(s3::Md5Hex(data)));
    res.set_content(std::string(data.begin(), data.end()), "application/octet-stream");
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.retry.initial = 50ms;
  cfg.retry.max_pause = 1000ms;
  auto c = Client(cfg);
  std::string body, detail;
  bool found = false;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail)) << detail;
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(server_.count(), 3u);
  EXPECT_EQ(c->stats().retries(), 2u);
  EXPECT_GE(elapsed, 150ms) << "pauses of 50 and 100 ms";
  EXPECT_EQ(c->stats().requests(s3::S3Stats::kGet), 3u);
}

TEST_F(S3ClientTest, ThrottlingGivesUpAfterTheBudget) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.status = 503;
    res.set_content(test::S3ErrorXml("SlowDown", "Please reduce your request rate."), "application/xml");
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.retry.budget = 300ms;
  auto c = Client(cfg);
  std::string detail;
  const auto start = std::chrono::steady_clock::now();
  const auto ec = c->PutObject("prefix/k", Bytes(10), &detail);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ec, make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(detail.find("S3 server error at " + server_.url() + ": HTTP 503 SlowDown"), std::string::npos) << detail;
  EXPECT_NE(detail.find("gave up after"), std::string::npos) << detail;
  EXPECT_GE(server_.count(), 5u);
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2000ms);
  EXPECT_EQ(c->stats().errors(s3::S3Stats::kThrottled), 1u);
}

TEST_F(S3ClientTest, ZeroBudgetMeansOneAttempt) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) { res.status = 500; });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.retry.budget = 0ms;
  auto c = Client(cfg);
  std::string detail;
  EXPECT_EQ(c->DeleteObject("prefix/k", &detail), make_error_code(Errc::kStoreUnavailable));
  EXPECT_EQ(server_.count(), 1u);
}

TEST_F(S3ClientTest, AccessDeniedIsNotRetried) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.status = 403;
    res.set_content(test::S3ErrorXml("SignatureDoesNotMatch"), "application/xml");
  });
  auto c = Client();
  std::string value;
  EXPECT_EQ(c->ReadMeta("s3bd-volume", value, nullptr), make_error_code(Errc::kAccessDenied));
  EXPECT_EQ(c->last_meta_error(),
            "access denied to s3://bkt/prefix: check the credentials (HTTP 403 SignatureDoesNotMatch)");
  EXPECT_EQ(server_.count(), 1u);
  EXPECT_EQ(c->stats().errors(s3::S3Stats::kAccess), 1u);
}

TEST_F(S3ClientTest, NoSuchBucket) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.status = 404;
    res.set_content(test::S3ErrorXml("NoSuchBucket"), "application/xml");
  });
  auto c = Client();
  std::string body, detail;
  bool found = true;
  EXPECT_EQ(c->GetObject("prefix/k", &body, &found, 100, &detail), make_error_code(Errc::kNoSuchVolume));
  EXPECT_EQ(detail, "bucket bkt does not exist");
  EXPECT_EQ(server_.count(), 1u);
}

TEST_F(S3ClientTest, WrongRegionSaysSo) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.status = 301;
    res.set_content(test::S3ErrorXml("PermanentRedirect"), "application/xml");
  });
  auto c = Client();
  std::string body, detail;
  bool found = false;
  EXPECT_TRUE(c->GetObject("prefix/k", &body, &found, 100, &detail));
  EXPECT_NE(detail.find("bucket bkt is not in region us-east-1: use --region"), std::string::npos) << detail;
}

TEST_F(S3ClientTest, UnreachableEndpoint) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test::ClosedPort());
  auto cfg = test::TestClientConfig(url);
  cfg.retry.budget = 200ms;
  auto c = Client(cfg);
  std::string body, detail;
  bool found = false;
  EXPECT_EQ(c->GetObject("prefix/k", &body, &found, 100, &detail), make_error_code(Errc::kStoreUnavailable));
  EXPECT_EQ(detail.rfind("endpoint unreachable: " + url + " (", 0), 0u) << detail;
  EXPECT_GE(c->stats().retries(), 2u) << "connection failures are retried";
  EXPECT_EQ(c->stats().errors(s3::S3Stats::kUnreachable), 1u);
}

TEST_F(S3ClientTest, TimeoutIsRetriedThenReported) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    std::this_thread::sleep_for(400ms);
    res.status = 200;
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.http.request_timeout = 100ms;
  cfg.retry.budget = 150ms;
  auto c = Client(cfg);
  std::string detail;
  EXPECT_EQ(c->DeleteObject("prefix/k", &detail), make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(detail.find("timed out"), std::string::npos) << detail;
  EXPECT_GE(c->stats().errors(s3::S3Stats::kTimeout), 1u);
}

// SigV4 signs the payload's SHA-256, which the server checks: no MD5 is
// computed, no Content-MD5 sent; the CRC-32C goes along as signed metadata.
TEST_F(S3ClientTest, PutSendsCrc32AndChosenHeaders) {
  const auto data = Bytes(8192);
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    res.set_header("ETag", Quoted(s3::Md5Hex(s3::AsBytes(r.body))));
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.storage_class = "STANDARD_IA";
  cfg.sse = "AES256";
  cfg.acl = "public-read";
  auto c = Client(cfg);
  std::string detail;
  ASSERT_FALSE(c->PutObject("prefix/0000002a", data, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const RecordedRequest& r = reqs[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.body, std::string(data.begin(), data.end()));
  EXPECT_EQ(r.Header("Content-MD5"), "");
  EXPECT_FALSE(r.headers.count("Content-MD5"));
  EXPECT_EQ(r.Header(kCrcHeader), CrcHex(data));
  EXPECT_EQ(r.Header("x-amz-content-sha256"), s3::Sha256Hex(data));
  EXPECT_EQ(r.Header("x-amz-storage-class"), "STANDARD_IA");
  EXPECT_EQ(r.Header("x-amz-server-side-encryption"), "AES256");
  EXPECT_EQ(r.Header("x-amz-acl"), "public-read");
  EXPECT_EQ(r.Header("Expect"), "");
  // Every x-amz header is signed.
  const std::string auth = r.Header("Authorization");
  EXPECT_NE(auth.find("x-amz-acl;"), std::string::npos) << auth;
  EXPECT_NE(auth.find(";x-amz-meta-s3bd-crc32c;"), std::string::npos) << auth;
  EXPECT_EQ(auth.find("content-md5"), std::string::npos) << auth;
}

TEST_F(S3ClientTest, SigV4PutDoesNotCompareTheEtag) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_header("ETag", Quoted("0123456789abcdef0123456789abcdef"));
  });
  auto c = Client();
  std::string detail;
  ASSERT_FALSE(c->PutObject("prefix/k", Bytes(100), &detail)) << detail;
  EXPECT_EQ(server_.count(), 1u);
  EXPECT_EQ(c->stats().retries(), 0u);
}

// The CRC-32C header is computed from the data (not a constant): two bodies,
// two values, each the CRC of what was sent.
TEST_F(S3ClientTest, PutCrc32FollowsTheData) {
  auto c = Client();
  std::string detail;
  ASSERT_FALSE(c->PutObject("prefix/a", Bytes(4096, 1), &detail)) << detail;
  ASSERT_FALSE(c->PutObject("prefix/b", Bytes(4096, 2), &detail)) << detail;
  ASSERT_FALSE(c->PutObject("prefix/c", {}, &detail)) << detail;
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].Header(kCrcHeader), CrcHex(Bytes(4096, 1)));
  EXPECT_EQ(reqs[1].Header(kCrcHeader), CrcHex(Bytes(4096, 2)));
  EXPECT_NE(reqs[0].Header(kCrcHeader), reqs[1].Header(kCrcHeader));
  EXPECT_EQ(reqs[2].Header(kCrcHeader), "00000000");
  for (const auto& r : reqs) EXPECT_EQ(r.Header(kCrcHeader), s3::Crc32Hex(s3::Crc32c(r.body)));
}

// Without a payload hash (SigV2) the ETag returned must be the data's MD5.
TEST_F(S3ClientTest, PutEtagMismatchIsRetried) {
  const auto data = Bytes(4096);
  int calls = 0;
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    res.set_header("ETag", Quoted(++calls == 1 ? std::string(32, '0') : s3::Md5Hex(s3::AsBytes(r.body))));
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.auth = s3::AuthMode::kSigV2;
  auto c = Client(cfg);
  std::string detail;
  ASSERT_FALSE(c->PutObject("prefix/k", data, &detail)) << detail;
  EXPECT_EQ(server_.count(), 2u);
  EXPECT_EQ(c->stats().retries(), 1u);
}

TEST_F(S3ClientTest, PutEtagMismatchFailsAfterTheBudget) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_header("ETag", Quoted("0123456789abcdef0123456789abcdef"));
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.auth = s3::AuthMode::kSigV2;
  cfg.retry.budget = 200ms;
  auto c = Client(cfg);
  std::string detail;
  EXPECT_EQ(c->PutObject("prefix/k", Bytes(100), &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("PUT s3://bkt/prefix/k: the ETag returned does not match the data sent"), std::string::npos)
      << detail;
  EXPECT_GE(server_.count(), 3u);
  EXPECT_EQ(c->stats().errors(s3::S3Stats::kChecksum), 1u);
}

TEST_F(S3ClientTest, SseKmsSkipsTheEtagCheck) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_header("ETag", Quoted("0123456789abcdef0123456789abcdef"));
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.auth = s3::AuthMode::kSigV2;  // the ETag is compared only without a payload hash
  cfg.sse = "aws:kms";
  cfg.sse_kms_key_id = "alias/key";
  auto c = Client(cfg);
  std::string detail;
  EXPECT_FALSE(c->PutObject("prefix/k", Bytes(100), &detail)) << detail;
  EXPECT_EQ(server_.count(), 1u);
  EXPECT_EQ(server_.requests()[0].Header("x-amz-server-side-encryption-aws-kms-key-id"), "alias/key");
  EXPECT_EQ(server_.requests()[0].Header("Content-MD5"), s3::Md5Base64(Bytes(100))) << "the server still checks";
}

// An object without the CRC-32C header (written by another tool, e.g.
// s3backer) is verified against its ETag.
TEST_F(S3ClientTest, CorruptGetIsRetried) {
  const auto data = Bytes(4096);
  int calls = 0;
  server_.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
    std::string body(data.begin(), data.end());
    if (++calls == 1) body[100] ^= 1;  // flipped in transit
    res.set_header("ETag", Quoted(s3::Md5Hex(data)));
    res.set_content(body, "application/octet-stream");
  });
  auto c = Client();
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail)) << detail;
  EXPECT_EQ(body, std::string(data.begin(), data.end()));
  EXPECT_EQ(server_.count(), 2u);
}

// With the CRC-32C header the body is checked against it, even where the ETag
// could not tell (here it is not an MD5, like a multipart upload's).
TEST_F(S3ClientTest, CorruptGetIsCaughtByTheCrc32) {
  const auto data = Bytes(4096);
  int calls = 0;
  server_.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
    std::string body(data.begin(), data.end());
    if (++calls == 1) body[4000] ^= 0x40;
    res.set_header("ETag", Quoted("0123456789abcdef0123456789abcdef-2"));
    res.set_header(kCrcHeader, CrcHex(data));
    res.set_content(body, "application/octet-stream");
  });
  auto c = Client();
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail)) << detail;
  EXPECT_EQ(body, std::string(data.begin(), data.end()));
  EXPECT_EQ(server_.count(), 2u);
  EXPECT_EQ(c->stats().retries(), 1u);
}

// The CRC-32C takes precedence over the ETag: a wrong value fails the GET even
// though the ETag matches, after the retry budget, as a corrupt block.
TEST_F(S3ClientTest, WrongCrc32HeaderIsDetected) {
  const auto data = Bytes(4096);
  server_.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
    res.set_header("ETag", Quoted(s3::Md5Hex(data)));
    res.set_header(kCrcHeader, s3::Crc32Hex(s3::Crc32c(data) ^ 1));
    res.set_content(std::string(data.begin(), data.end()), "application/octet-stream");
  });
  auto cfg = test::TestClientConfig(server_.url());
  cfg.retry.budget = 200ms;
  auto c = Client(cfg);
  std::string body, detail;
  bool found = false;
  EXPECT_EQ(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("GET s3://bkt/prefix/k: the data received (or its metadata) does not match its CRC-32C"), std::string::npos)
      << detail;
  EXPECT_GE(server_.count(), 3u) << "retried";
  EXPECT_EQ(c->stats().errors(s3::S3Stats::kChecksum), 1u);
}

TEST_F(S3ClientTest, MalformedCrc32HeaderIsCorrupt) {
  const auto data = Bytes(4096);
  for (const std::string bad : {"cbf4392", "cbf43926 0", "0xf43926", "zzzzzzzz", "-"}) {
    server_.Clear();
    server_.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
      res.set_header("ETag", Quoted(s3::Md5Hex(data)));
      res.set_header(kCrcHeader, bad);
      res.set_content(std::string(data.begin(), data.end()), "application/octet-stream");
    });
    auto cfg = test::TestClientConfig(server_.url());
    cfg.retry.budget = 100ms;
    auto c = Client(cfg);
    std::string body, detail;
    bool found = false;
    EXPECT_EQ(c->GetObject("prefix/k", &body, &found, 1 << 20, &detail), make_error_code(Errc::kCorruptBlock))
        << bad;
    EXPECT_NE(detail.find("malformed x-amz-meta-s3bd-crc32c header"), std::string::npos) << detail;
    EXPECT_GE(server_.count(), 2u) << "retried like a mismatch: " << bad;
  }
}

TEST_F(S3ClientTest, OversizedBodyIsAnError) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_content(std::string(10000, 'x'), "application/octet-stream");
  });
  auto c = Client();
  std::string body, detail;
  bool found = false;
  EXPECT_EQ(c->GetObject("prefix/k", &body, &found, 4096, &detail), s3::Errc::kResponseTooLarge);
  EXPECT_EQ(server_.count(), 1u);
}

// GetObjectInto writes the body straight into the caller's buffer, attempt
// after attempt; error documents still reach the error message.
TEST_F(S3ClientTest, GetIntoACallersBuffer) {
  const auto data = Bytes(8192, 9);
  int calls = 0;
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    ++calls;
    if (r.path == "/bkt/prefix/missing") {
      res.status = 404;
      res.set_content(test::S3ErrorXml("NoSuchKey"), "application/xml");
      return;
    }
    if (r.path == "/bkt/prefix/denied") {
      res.status = 403;
      res.set_content(test::S3ErrorXml("AccessDenied", "no"), "application/xml");
      return;
    }
    std::string body(data.begin(), data.end());
    if (r.path == "/bkt/prefix/short") body.resize(100);
    res.set_header(kCrcHeader, s3::Crc32Hex(s3::Crc32c(body)));
    if (r.path == "/bkt/prefix/corrupt-once" && calls == 1) body[5] ^= 1;  // after its CRC-32
    res.set_content(body, "application/octet-stream");
  });
  auto c = Client();
  std::vector<std::uint8_t> buf(8192, 0xee);
  std::size_t size = 1;
  bool found = false;
  std::string detail;

  ASSERT_FALSE(c->GetObjectInto("prefix/corrupt-once", buf, &size, &found, &detail)) << detail;
  EXPECT_TRUE(found);
  EXPECT_EQ(size, data.size());
  EXPECT_EQ(buf, data);
  EXPECT_EQ(calls, 2) << "the corrupt first body was retried";
  std::ostringstream stats;
  c->stats().Print(stats);
  EXPECT_NE(stats.str().find("received " + std::to_string(2 * 8192) + "\n"), std::string::npos) << stats.str();

  std::fill(buf.begin(), buf.end(), 0xee);
  ASSERT_FALSE(c->GetObjectInto("prefix/short", buf, &size, &found, &detail)) << detail;
  EXPECT_EQ(size, 100u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 100, data.begin()));
  EXPECT_EQ(buf[100], 0xee);

  std::vector<std::uint8_t> small(4096);
  EXPECT_EQ(c->GetObjectInto("prefix/k", small, &size, &found, &detail), s3::Errc::kResponseTooLarge);

  ASSERT_FALSE(c->GetObjectInto("prefix/missing", buf, &size, &found, &detail)) << detail;
  EXPECT_FALSE(found);
  EXPECT_EQ(size, 0u);

  std::fill(buf.begin(), buf.end(), 0xee);
  EXPECT_EQ(c->GetObjectInto("prefix/denied", buf, &size, &found, &detail), make_error_code(Errc::kAccessDenied));
  EXPECT_NE(detail.find("(HTTP 403 AccessDenied)"), std::string::npos) << detail;
  EXPECT_EQ(buf, std::vector<std::uint8_t>(8192, 0xee)) << "an error document does not go to the buffer";
}

std::string ListPage(const std::vector<std::string>& keys, const std::string& next) {
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name>"
                    "<Prefix>prefix/</Prefix><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType>";
  xml += "<KeyCount>" + std::to_string(keys.size()) + "</KeyCount>";
  xml += next.empty() ? "<IsTruncated>false</IsTruncated>"
                      : "<IsTruncated>true</IsTruncated><NextContinuationToken>" + next + "</NextContinuationToken>";
  for (const auto& k : keys) xml += "<Contents><Key>" + k + "</Key><Size>4096</Size></Contents>";
  return xml + "</ListBucketResult>";
}

TEST_F(S3ClientTest, ListFollowsContinuationTokens) {
  server_.SetHandler([](const RecordedRequest& r, httplib::Response& res) {
    EXPECT_EQ(r.Param("list-type"), "2");
    EXPECT_EQ(r.Param("prefix"), "prefix/");
    const std::string token = r.Param("continuation-token");
    if (token.empty()) {
      EXPECT_EQ(r.Param("start-after"), "prefix/00000000");
      res.set_content(ListPage({"prefix/00000001", "prefix/a%20b"}, "tok+1/="), "application/xml");
    } else if (token == "tok+1/=") {
      EXPECT_EQ(r.Param("start-after"), "");
      res.set_content(ListPage({"prefix/00000003", "prefix/00000004"}, "tok2"), "application/xml");
    } else {
      EXPECT_EQ(token, "tok2");
      res.set_content(ListPage({"prefix/00000005"}, ""), "application/xml");
    }
  });
  auto c = Client();
  std::vector<std::string> keys;
  std::string detail;
  ASSERT_FALSE(c->ListObjects(
      "prefix/", "prefix/00000000",
      [&](const s3::ListedObject& o) {
        keys.push_back(o.key);
        return true;
      },
      &detail))
      << detail;
  EXPECT_EQ(keys, (std::vector<std::string>{"prefix/00000001", "prefix/a b", "prefix/00000003", "prefix/00000004",
                                            "prefix/00000005"}));
  EXPECT_EQ(server_.count(), 3u);
  EXPECT_EQ(c->stats().requests(s3::S3Stats::kList), 3u);

  // A callback that stops early ends the listing without fetching more pages.
  server_.Clear();
  keys.clear();
  ASSERT_FALSE(c->ListObjects("prefix/", "prefix/00000000", [&](const s3::ListedObject& o) {
    keys.push_back(o.key);
    return false;
  }, &detail));
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_EQ(server_.count(), 1u);
}

TEST_F(S3ClientTest, MalformedListingIsAClearError) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_content("<ListBucketResult><Contents><Key>x", "application/xml");
  });
  auto c = Client();
  std::string detail;
  EXPECT_EQ(c->ListObjects("prefix/", "", [](const s3::ListedObject&) { return true; }, &detail),
            s3::Errc::kBadResponse);
  EXPECT_EQ(detail.rfind("listing s3://bkt/prefix: cannot parse the response", 0), 0u) << detail;
  EXPECT_EQ(server_.count(), 1u);
}

TEST_F(S3ClientTest, ListTokenThatDoesNotAdvanceIsAnError) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_content(ListPage({"prefix/00000001"}, "same"), "application/xml");
  });
  auto c = Client();
  std::string detail;
  EXPECT_EQ(c->ListObjects("prefix/", "", [](const s3::ListedObject&) { return true; }, &detail),
            s3::Errc::kBadResponse);
  EXPECT_EQ(server_.count(), 2u);
}

TEST_F(S3ClientTest, DeleteObjectsInBatchesWithContentMd5) {
  std::vector<std::size_t> batch_sizes;
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_TRUE(r.params.count("delete"));
    EXPECT_EQ(r.Header("Content-MD5"), s3::Md5Base64(r.body));
    std::size_t n = 0;
    for (std::size_t p = 0; (p = r.body.find("<Key>", p)) != std::string::npos; ++p) ++n;
    batch_sizes.push_back(n);
    res.set_content("<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>",
                    "application/xml");
  });
  auto c = Client();
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) keys.push_back("prefix/" + s3::BlockHex(static_cast<std::uint64_t>(i)));
  std::string detail;
  ASSERT_FALSE(c->DeleteObjects(keys, &detail)) << detail;
  EXPECT_EQ(batch_sizes, (std::vector<std::size_t>{1000, 1000, 500}));
}

TEST_F(S3ClientTest, DeleteObjectsReportsPerKeyFailures) {
  server_.SetHandler([](const RecordedRequest&, httplib::Response& res) {
    res.set_content(
        "<DeleteResult><Error><Key>prefix/00000001</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
        "</DeleteResult>",
        "application/xml");
  });
  auto c = Client();
  std::vector<std::string> keys = {"prefix/00000001"};
  std::string detail;
  EXPECT_EQ(c->DeleteObjects(keys, &detail), make_error_code(Errc::kAccessDenied));
  EXPECT_NE(detail.find("prefix/00000001: AccessDenied"), std::string::npos) << detail;
}

TEST_F(S3ClientTest, NoSecretInErrorsOrLogs) {
  // The server echoes everything it was sent back in its error message.
  server_.SetHandler([](const RecordedRequest& r, httplib::Response& res) {
    std::string echo;
    for (const auto& [k, v] : r.headers) echo += k + "=" + v + " ";
    res.status = r.method == "PUT" ? 400 : 403;
    res.set_content(test::S3ErrorXml(r.method == "PUT" ? "InvalidArgument" : "AccessDenied", "x"),
                    "application/xml");
  });
  LogCapture log;
  auto c = Client();
  std::string detail, all;
  std::string body;
  bool found;
  c->GetObject("prefix/k", &body, &found, 100, &detail);
  all += detail + "\n";
  c->PutObject("prefix/k", Bytes(10), &detail);
  all += detail + "\n";
  all += log.text();
  std::ostringstream stats;
  c->stats().Print(stats);
  all += stats.str();
  EXPECT_NE(all.find("access denied"), std::string::npos) << all;
  EXPECT_NE(all.find("http: GET"), std::string::npos) << "debug lines were captured: " << all;
  EXPECT_EQ(all.find(test::kTestSecret), std::string::npos) << all;
  EXPECT_EQ(all.find(test::kTestSessionToken), std::string::npos) << all;
  EXPECT_EQ(all.find("Signature="), std::string::npos) << all;
}

// A one-object store behind the scripted server whose conditional PUT and
// DELETE follow `mode`: "rfc" (If-Match with the quoted or the bare ETag),
// "rgw" (Ceph RGW 16: the quoted correct ETag is refused, the bare one
// accepted) or "ignore" (conditions ignored).
struct ConditionalObjects {
  std::string mode = "rfc";
  std::map<std::string, std::string> objects;  // path -> body
  std::mutex mu;
  void Handle(const RecordedRequest& r, httplib::Response& res) {
    std::lock_guard lock(mu);
    auto it = objects.find(r.path);
    const bool exists = it != objects.end();
    const std::string etag = exists ? s3::Md5Hex(it->second) : "";
    const auto refuse = [&](int status, const char* code) {
      res.status = status;
      res.set_content(test::S3ErrorXml(code), "application/xml");
    };
    if (mode != "ignore" && (r.method == "PUT" || r.method == "DELETE")) {
      if (r.Header("If-None-Match") == "*" && exists) return refuse(412, "PreconditionFailed");
      if (!r.Header("If-Match").empty()) {
        if (!exists) return refuse(404, "NoSuchKey");
        const std::string m = r.Header("If-Match");
        const bool ok = mode == "rgw" ? m == etag : (m == etag || m == "\"" + etag + "\"");
        if (!ok) return refuse(412, "PreconditionFailed");
      }
    }
    if (r.method == "PUT") {
      objects[r.path] = r.body;
      res.set_header("ETag", "\"" + s3::Md5Hex(r.body) + "\"");
    } else if (r.method == "DELETE") {
      if (exists) objects.erase(it);
      res.status = 204;
    } else if (r.method == "GET") {
      if (!exists) return refuse(404, "NoSuchKey");
      res.set_header("ETag", "\"" + etag + "\"");
      res.set_content(it->second, "application/octet-stream");
    }
  }
};

TEST_F(S3ClientTest, ConditionalPutAndDeleteTell412Apart) {
  ConditionalObjects store;
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) { store.Handle(r, res); });
  auto c = Client();
  std::string detail, etag;
  ASSERT_FALSE(c->WriteMeta("s3bd-lease", "one", MetaCondition::Absent(), &etag));
  EXPECT_EQ(etag, s3::Md5Hex(std::string("one")));
  EXPECT_EQ(server_.requests().back().Header("If-None-Match"), "*");
  server_.Clear();
  EXPECT_EQ(c->WriteMeta("s3bd-lease", "two", MetaCondition::Absent(), nullptr),
            make_error_code(Errc::kConditionFailed));
  EXPECT_EQ(server_.count(), 1u) << "a condition that does not hold is not retried";
  std::string value, version;
  ASSERT_FALSE(c->ReadMeta("s3bd-lease", value, &version));
  EXPECT_EQ(value, "one");
  EXPECT_EQ(version, etag);
  ASSERT_FALSE(c->WriteMeta("s3bd-lease", "two", MetaCondition::Version(etag), &etag));
  EXPECT_EQ(server_.requests().back().Header("If-Match"), "\"" + s3::Md5Hex(std::string("one")) + "\"")
      << "quoted, as RFC 9110 spells it";
  EXPECT_EQ(c->WriteMeta("s3bd-lease", "three", MetaCondition::Version("0123"), nullptr),
            make_error_code(Errc::kConditionFailed));
  EXPECT_EQ(c->DeleteMeta("s3bd-lease", MetaCondition::Version("0123")), make_error_code(Errc::kConditionFailed));
  ASSERT_FALSE(c->DeleteMeta("s3bd-lease", MetaCondition::Version(etag)));
  EXPECT_EQ(server_.requests().back().Header("If-Match"), "\"" + etag + "\"");
  EXPECT_EQ(c->ReadMeta("s3bd-lease", value, nullptr), std::errc::no_such_file_or_directory);
  EXPECT_EQ(c->DeleteMeta("s3bd-lease", MetaCondition::Version(etag)), make_error_code(Errc::kConditionFailed))
      << "gone is not ours";
  EXPECT_EQ(c->WriteMeta("s3bd-lease", "x", MetaCondition::Version(etag), nullptr),
            make_error_code(Errc::kConditionFailed))
      << "If-Match on a missing object (404 NoSuchKey)";
  EXPECT_FALSE(c->DeleteMeta("s3bd-lease", MetaCondition::None())) << "a missing key deletes fine";
}

TEST_F(S3ClientTest, ProbeFindsTheIfMatchSpellingTheServerHonours) {
  for (const std::string mode : {"rfc", "rgw"}) {
    SCOPED_TRACE(mode);
    ConditionalObjects store;
    store.mode = mode;
    server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) { store.Handle(r, res); });
    auto c = Client();
    // Left over from a probe that was interrupted.
    ASSERT_FALSE(c->WriteMeta("s3bd-probe", "left over", MetaCondition::None(), nullptr));
    bool enforced = false;
    ASSERT_FALSE(c->ProbeConditions("s3bd-probe", &enforced));
    EXPECT_TRUE(enforced);
    EXPECT_EQ(c->bare_if_match(), mode == "rgw");
    EXPECT_TRUE(store.objects.empty()) << "the probe object is deleted";
    std::string etag;
    ASSERT_FALSE(c->WriteMeta("s3bd-lease", "one", MetaCondition::Absent(), &etag));
    ASSERT_FALSE(c->WriteMeta("s3bd-lease", "two", MetaCondition::Version(etag), &etag));
    EXPECT_EQ(server_.requests().back().Header("If-Match"),
              mode == "rgw" ? s3::Md5Hex(std::string("one")) : "\"" + s3::Md5Hex(std::string("one")) + "\"");
    EXPECT_EQ(c->WriteMeta("s3bd-lease", "three", MetaCondition::Version("0123"), nullptr),
              make_error_code(Errc::kConditionFailed));
  }
}

TEST_F(S3ClientTest, ProbeSeesAServerIgnoringConditions) {
  ConditionalObjects store;
  store.mode = "ignore";
  server_.SetHandler([&](const RecordedRequest& r, httplib::Response& res) { store.Handle(r, res); });
  auto c = Client();
  bool enforced = true;
  ASSERT_FALSE(c->ProbeConditions("s3bd-probe", &enforced));
  EXPECT_FALSE(enforced);
  EXPECT_TRUE(store.objects.empty());
}

TEST(S3StatsTest, LatencyPercentileAndReuse) {
  s3::S3Stats s;
  for (int i = 0; i < 99; ++i) s.CountAttempt(s3::S3Stats::kGet, 0, 4096, 1000us, true);
  s.CountAttempt(s3::S3Stats::kPut, 4096, 0, 500000us, false);
  EXPECT_LE(s.P99().count(), 1300);
  EXPECT_GE(s.P99().count(), 1000);
  s.CountAttempt(s3::S3Stats::kPut, 4096, 0, 500000us, false);
  EXPECT_GE(s.P99().count(), 500000);
  std::ostringstream os;
  s.Print(os);
  EXPECT_NE(os.str().find("requests GET=99 PUT=2"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("connection reuse 98.0% (99 of 101 requests)"), std::string::npos) << os.str();
}

// A body_out buffer bounds the body by its own size, whatever max_response
// says; an error document goes to the string body instead.
TEST(HttpClientTest, BodyOutIsBoundedByItsSize) {
  test::ScriptedHttpServer server;
  server.SetHandler([&](const RecordedRequest& r, httplib::Response& res) {
    if (r.path == "/error") res.status = 500;
    res.set_content(std::string(r.path == "/fits" ? 16 : 100, 'x'), "text/plain");
  });
  s3::HttpClient http(s3::HttpClientOptions{});
  std::vector<std::uint8_t> buf(16, 0);
  s3::HttpRequest req;
  req.max_response = 1 << 20;
  req.body_out = buf;
  s3::HttpResponse resp;
  req.url = server.url() + "/fits";
  http.Perform(req, &resp);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.Body().size(), 16u);
  EXPECT_EQ(resp.Body().data(), buf.data());
  EXPECT_TRUE(resp.body.empty());
  EXPECT_EQ(buf, std::vector<std::uint8_t>(16, 'x'));

  req.url = server.url() + "/long";
  http.Perform(req, &resp);
  EXPECT_TRUE(resp.too_large);
  EXPECT_NE(resp.transport, s3::TransportError::kNone);

  req.url = server.url() + "/error";
  http.Perform(req, &resp);
  EXPECT_EQ(resp.status, 500);
  EXPECT_EQ(resp.body, std::string(100, 'x'));
  EXPECT_EQ(resp.Body().size(), 100u);
}

// The HTTP layer sends the path of the URL it is given unchanged: no dot
// segment is removed, whoever built the URL.
TEST(HttpClientTest, PathIsSentAsIs) {
  test::ScriptedHttpServer server;
  s3::HttpClient http(s3::HttpClientOptions{});
  for (const std::string path : {"/bkt/a/../../other/evil", "/bkt/./x", "/../etc", "/a/b/..", "/a//b/."}) {
    server.Clear();
    s3::HttpRequest req;
    req.url = server.url() + path + "?list-type=2";
    s3::HttpResponse resp;
    http.Perform(req, &resp);
    EXPECT_EQ(resp.status, 200) << path << ": " << resp.transport_detail;
    const auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u) << path;
    EXPECT_EQ(reqs[0].target, path + "?list-type=2");
  }
}

TEST(HttpClientTest, ReusesConnectionsAndBoundsParallelism) {
  test::ScriptedHttpServer server;
  std::atomic<int> in_flight{0}, max_in_flight{0};
  server.SetHandler([&](const RecordedRequest&, httplib::Response& res) {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(20ms);
    --in_flight;
    res.set_content("ok", "text/plain");
  });
  s3::HttpClientOptions o;
  o.max_parallel = 3;
  s3::HttpClient http(o);
  std::atomic<int> reused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        s3::HttpRequest req;
        req.url = server.url() + "/x";
        s3::HttpResponse resp;
        http.Perform(req, &resp);
        EXPECT_EQ(resp.status, 200);
        EXPECT_EQ(resp.body, "ok");
        if (resp.reused_connection) reused++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_in_flight.load(), 3);
  EXPECT_GE(reused.load(), 40 - 3) << "only the first request of each handle connects";
}

#ifdef S3BD_HAVE_TEST_S3SERVER

// Turns the shared test server's faults off again when a test ends.
struct FaultsOffAtExit {
  ~FaultsOffAtExit() { test::SharedS3Server().faults().set_many("faults=none"); }
};

std::uint64_t InjectedFaults(s3server::Fault f) {
  return test::SharedS3Server().counters().faults[static_cast<std::size_t>(f)].load();
}

// A header the test server stored with an object (nullopt: none, or no object).
std::optional<std::string> StoredHeader(const std::string& key, const std::string& name) {
  const s3server::ObjectPtr obj = test::SharedS3Server().store().get(test::kTestBucket, key, 0).obj;
  if (!obj) return std::nullopt;
  for (const auto& [n, v] : obj->headers) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// Through the test S3 server: the CRC-32C is stored with the object and comes
// back on GET; the ETag is still the server's MD5 of the data, so a
// conditional GET with the MD5 (the cache file's revalidation) gets a 304.
TEST(S3ClientOnTestServer, Crc32MetadataRoundTripAndConditionalGet) {
  const std::string prefix = test::UniquePrefix();
  auto c = test::SharedServerClient(prefix);
  const auto data = Bytes(65536, 3);
  std::string detail;
  ASSERT_FALSE(c->PutObject(prefix + "blk", data, &detail)) << detail;
  EXPECT_EQ(StoredHeader(prefix + "blk", kCrcHeader), CrcHex(data));
  EXPECT_EQ(test::SharedS3Server().store().get(test::kTestBucket, prefix + "blk", 0).obj->etag, s3::Md5Hex(data));

  std::string body;
  bool found = false, not_modified = true;
  ASSERT_FALSE(c->GetObject(prefix + "blk", &body, &found, 1 << 20, &detail)) << detail;
  EXPECT_TRUE(found);
  EXPECT_EQ(body, std::string(data.begin(), data.end()));
  std::vector<std::uint8_t> buf(1 << 20);
  std::size_t size = 0;
  const std::string etag = s3::Md5Hex(data), other = s3::Md5Hex(Bytes(10));
  ASSERT_FALSE(c->GetObjectInto(prefix + "blk", buf, &size, &found, &detail, false, nullptr, nullptr, &etag,
                                &not_modified))
      << detail;
  EXPECT_TRUE(not_modified);
  EXPECT_EQ(size, 0u);
  // Another MD5: the object comes back whole, and is checked.
  ASSERT_FALSE(c->GetObjectInto(prefix + "blk", buf, &size, &found, &detail, false, nullptr, nullptr, &other,
                                &not_modified))
      << detail;
  EXPECT_FALSE(not_modified);
  EXPECT_EQ(std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size)), data);
}

// Metadata pairs travel as x-amz-meta-* headers (content-encoding as
// Content-Encoding) and are covered by the CRC-32C header: a server or proxy
// that drops or edits one makes the GET fail its check, like a flipped byte.
TEST(S3ClientOnTestServer, MetadataPairsRoundTripAndAreCoveredByTheCrc) {
  const std::string prefix = test::UniquePrefix();
  auto c = test::SharedServerClient(prefix);
  const auto data = Bytes(1000, 4);
  const std::vector<s3::NameValue> meta = {{"s3bd-encoding", "zstd"}, {"content-encoding", "deflate"}};
  std::string detail;
  ASSERT_FALSE(c->PutObject(prefix + "blk", data, &detail, {}, nullptr, meta)) << detail;
  EXPECT_EQ(StoredHeader(prefix + "blk", "x-amz-meta-s3bd-encoding"), "zstd");
  EXPECT_EQ(StoredHeader(prefix + "blk", kCrcHeader), s3::Crc32Hex(s3::MetaCrc(s3::Crc32c(data), meta)));
  EXPECT_NE(s3::MetaCrc(s3::Crc32c(data), meta), s3::Crc32c(data));
  std::vector<std::uint8_t> buf(4096);
  std::size_t size = 0;
  bool found = false;
  std::vector<s3::NameValue> got;
  std::string etag;
  ASSERT_FALSE(c->GetObjectInto(prefix + "blk", buf, &size, &found, &detail, true, &got, &etag)) << detail;
  auto sorted = meta;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(got, sorted);
  EXPECT_EQ(etag, s3::Md5Hex(data));
  EXPECT_EQ(size, data.size());
}

// The server's "corrupt" fault flips a byte of the body but sends the stored
// headers: the CRC-32C catches it. Its "truncate" fault is caught by the
// transfer itself (Content-Length). Neither body is ever returned.
TEST(S3ClientOnTestServer, InjectedCorruptionAndTruncationAreCaught) {
  FaultsOffAtExit restore;
  auto& server = test::SharedS3Server();
  const std::string prefix = test::UniquePrefix();
  auto cfg = test::TestClientConfig(test::SharedS3ServerUrl(), test::kTestBucket, prefix);
  cfg.retry.budget = 200ms;
  s3::S3Client c(cfg, test::TestCredentials());
  const auto data = Bytes(65536, 4);
  std::string detail;
  ASSERT_FALSE(c.PutObject(prefix + "blk", data, &detail)) << detail;

  const auto corrupted = InjectedFaults(s3server::Fault::Corrupt);
  ASSERT_EQ(server.faults().set_many("get.corrupt=1"), "");
  std::string body;
  bool found = false;
  EXPECT_EQ(c.GetObject(prefix + "blk", &body, &found, 1 << 20, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("does not match its CRC-32C"), std::string::npos) << detail;
  EXPECT_GE(InjectedFaults(s3server::Fault::Corrupt), corrupted + 2) << "retried";
  EXPECT_EQ(c.stats().errors(s3::S3Stats::kChecksum), 1u);

  ASSERT_EQ(server.faults().set_many("faults=none&get.truncate=1"), "");
  EXPECT_EQ(c.GetObject(prefix + "blk", &body, &found, 1 << 20, &detail), make_error_code(Errc::kStoreUnavailable));

  ASSERT_EQ(server.faults().set_many("faults=none"), "");
  ASSERT_FALSE(c.GetObject(prefix + "blk", &body, &found, 1 << 20, &detail)) << detail;
  EXPECT_EQ(body, std::string(data.begin(), data.end()));
}

// An object written without the CRC-32C header (a plain PUT, as s3backer
// does; the test server checks no signature) is still verified, by MD5
// against its ETag.
TEST(S3ClientOnTestServer, ObjectWithoutCrc32IsVerifiedByMd5) {
  FaultsOffAtExit restore;
  auto& server = test::SharedS3Server();
  const std::string prefix = test::UniquePrefix();
  const std::string key = prefix + "raw";
  const auto data = Bytes(65536, 5);
  const std::string payload(data.begin(), data.end());
  httplib::Client http("127.0.0.1", server.port());
  const auto put = http.Put("/" + std::string(test::kTestBucket) + "/" + key,
                            httplib::Headers{{"Content-MD5", s3::Md5Base64(data)}}, payload,
                            "application/octet-stream");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200);
  EXPECT_EQ(StoredHeader(key, kCrcHeader), std::nullopt);

  auto cfg = test::TestClientConfig(test::SharedS3ServerUrl(), test::kTestBucket, prefix);
  cfg.retry.budget = 200ms;
  s3::S3Client c(cfg, test::TestCredentials());
  std::string body, detail;
  bool found = false;
  ASSERT_FALSE(c.GetObject(key, &body, &found, 1 << 20, &detail)) << detail;
  EXPECT_EQ(body, payload);

  ASSERT_EQ(server.faults().set_many("get.corrupt=1"), "");
  EXPECT_EQ(c.GetObject(key, &body, &found, 1 << 20, &detail), make_error_code(Errc::kCorruptBlock));
  EXPECT_NE(detail.find("does not match its ETag"), std::string::npos) << detail;
}

#endif  // S3BD_HAVE_TEST_S3SERVER

}  // namespace
}  // namespace s3bd

namespace s3bd {
namespace {

// A fake EC2 instance metadata service (IMDSv2).
void ServeImds(test::ScriptedHttpServer& server, const std::string& expiration, int* token_requests) {
  server.SetHandler([=](const RecordedRequest& r, httplib::Response& res) {
    if (r.method == "PUT" && r.path == "/latest/api/token") {
      ++*token_requests;
      EXPECT_EQ(r.Header("X-aws-ec2-metadata-token-ttl-seconds"), "21600");
      res.set_content("TOKEN-" + std::to_string(*token_requests), "text/plain");
      return;
    }
    if (r.Header("X-aws-ec2-metadata-token").rfind("TOKEN-", 0) != 0) {
      res.status = 401;
      return;
    }
    if (r.path == "/latest/meta-data/iam/security-credentials/") {
      res.set_content("my-role\n", "text/plain");
    } else if (r.path == "/latest/meta-data/iam/security-credentials/my-role") {
      res.set_content(R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS",)"
                      R"("SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":")" +
                          expiration + "\"}",
                      "application/json");
    } else {
      res.status = 404;
    }
  });
}

TEST(InstanceMetadata, FetchesCredentialsWithASessionToken) {
  test::ScriptedHttpServer server;
  int tokens = 0;
  ServeImds(server, "2030-01-02T03:04:05Z", &tokens);
  s3::InstanceMetadataOptions o;
  o.endpoint = server.url();
  s3::InstanceMetadataClient imds(o);
  s3::Credentials c;
  std::optional<std::chrono::system_clock::time_point> exp;
  std::string detail;
  ASSERT_FALSE(imds.Fetch(&c, &exp, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "ASIAIMDS");
  EXPECT_EQ(c.secret_access_key, "imds-secret");
  EXPECT_EQ(c.session_token, "imds-token");
  EXPECT_EQ(c.source, "instance metadata (role my-role)");
  ASSERT_TRUE(exp);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*exp), 1893553445);
  EXPECT_EQ(tokens, 1);
}

TEST(InstanceMetadata, UnreachableServiceIsSkippedQuickly) {
  s3::InstanceMetadataOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(test::ClosedPort());
  s3::InstanceMetadataClient imds(o);
  s3::Credentials c;
  std::optional<std::chrono::system_clock::time_point> exp;
  std::string detail;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(imds.Fetch(&c, &exp, &detail), s3::Errc::kCredentialsNotFound);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_NE(detail.find("no instance metadata service at " + o.endpoint), std::string::npos) << detail;
}

TEST(InstanceMetadata, EnvironmentOverridesAndDisables) {
  auto env = [](std::map<std::string, std::string> m) {
    return [m](const std::string& k) -> std::optional<std::string> {
      auto it = m.find(k);
      return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  EXPECT_EQ(s3::InstanceMetadataFromEnvironment(env({}))->endpoint, "http://169.254.169.254");
  EXPECT_EQ(s3::InstanceMetadataFromEnvironment(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"}}))
                ->endpoint,
            "http://127.0.0.1:9");
  EXPECT_FALSE(s3::InstanceMetadataFromEnvironment(env({{"AWS_EC2_METADATA_DISABLED", "TRUE"}})));
  EXPECT_FALSE(s3::ParseIso8601Utc("2030-13-01T00:00:00Z"));
  EXPECT_TRUE(s3::ParseIso8601Utc("2030-01-01T00:00:00.123Z"));
}

TEST(InstanceMetadata, ChainUsesItLastAndProviderRefreshesBeforeExpiry) {
  test::ScriptedHttpServer server;
  int tokens = 0;
  // Expires in 2 minutes: inside the 5-minute refresh margin.
  const auto soon = std::chrono::system_clock::now() + 120s;
  const std::time_t t = std::chrono::system_clock::to_time_t(soon);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  ServeImds(server, buf, &tokens);
  s3::InstanceMetadataOptions o;
  o.endpoint = server.url();
  auto imds = std::make_shared<s3::InstanceMetadataClient>(o);

  s3::CredentialChainOptions chain;
  chain.getenv = [](const std::string& k) -> std::optional<std::string> {
    if (k == "HOME") return "/nonexistent";
    return std::nullopt;
  };
  std::optional<std::chrono::system_clock::time_point> exp;
  chain.instance_metadata = [&](s3::Credentials* out, std::string* why) { return imds->Fetch(out, &exp, why); };
  s3::Credentials creds;
  std::string detail;
  ASSERT_FALSE(s3::ResolveCredentials(chain, &creds, &detail)) << detail;
  EXPECT_EQ(creds.access_key_id, "ASIAIMDS");
  EXPECT_EQ(tokens, 1);

  s3::CredentialProvider provider(creds, exp, [&](s3::Credentials* out, auto* e, std::string* d) {
    return imds->Fetch(out, e, d);
  });
  s3::Credentials now;
  ASSERT_FALSE(provider.Get(&now, &detail));
  EXPECT_EQ(tokens, 2) << "credentials about to expire are fetched again";
  EXPECT_EQ(now.session_token, "imds-token");

  // The service goes away: the old credentials stay in use while valid.
  server.SetHandler([](const RecordedRequest&, httplib::Response& res) { res.status = 500; });
  ASSERT_FALSE(provider.Get(&now, &detail));
  EXPECT_EQ(now.access_key_id, "ASIAIMDS");
}

}  // namespace
}  // namespace s3bd
