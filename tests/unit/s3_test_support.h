// Helpers for tests of the S3 client and store: client configurations with
// short retry budgets, test credentials, and (when tests/s3server is in the
// tree) one in-process in-memory S3 server shared by the whole test binary.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "s3bd/s3/s3_client.h"
#include "s3bd/codec/codec_store.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/s3_store.h"
#include "test_util.h"

#ifdef S3BD_HAVE_TEST_S3SERVER
#include "server.h"
#endif

namespace s3bd::test {

inline constexpr const char* kTestAccessKey = "AKIDTESTEXAMPLE";
inline constexpr const char* kTestSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRET";
inline constexpr const char* kTestSessionToken = "FQoGZXIvYXdzSESSIONTOKENSECRET";

inline std::shared_ptr<s3::CredentialProvider> TestCredentials(bool with_token = false) {
  s3::Credentials c;
  c.access_key_id = kTestAccessKey;
  c.secret_access_key = kTestSecret;
  if (with_token) c.session_token = kTestSessionToken;
  c.source = "test";
  return std::make_shared<s3::CredentialProvider>(c);
}

// Path-style, SigV4, fast deterministic backoff (10, 20, 40, 50, 50 ... ms)
// within a 2 s budget.
inline s3::S3ClientConfig TestClientConfig(const std::string& endpoint, const std::string& bucket = "bkt",
                                           const std::string& prefix = "prefix/") {
  s3::S3ClientConfig c;
  c.endpoint = endpoint;
  c.bucket = bucket;
  c.prefix = prefix;
  c.retry.initial = std::chrono::milliseconds(10);
  c.retry.max_pause = std::chrono::milliseconds(50);
  c.retry.budget = std::chrono::milliseconds(2000);
  c.retry.jitter = s3::Jitter::kNone;
  c.http.connect_timeout = std::chrono::milliseconds(2000);
  c.http.request_timeout = std::chrono::milliseconds(5000);
  return c;
}

#ifdef S3BD_HAVE_TEST_S3SERVER
inline constexpr const char* kTestBucket = "s3bd-unit";

// The shared in-memory S3 server, started on first use.
inline s3server::S3Server& SharedS3Server() {
  static s3server::S3Server server([] {
    s3server::ServerOptions o;
    o.quiet = true;
    o.threads = 48;
    o.buckets = {kTestBucket};
    o.seed = 42;
    return o;
  }());
  static const int port = server.start();
  (void)port;
  return server;
}

inline std::string SharedS3ServerUrl() { return "http://127.0.0.1:" + std::to_string(SharedS3Server().port()); }

// A prefix no other test uses ("t17/").
inline std::string UniquePrefix() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(n++) + "/";
}

inline std::shared_ptr<s3::S3Client> SharedServerClient(const std::string& prefix) {
  return std::make_shared<s3::S3Client>(TestClientConfig(SharedS3ServerUrl(), kTestBucket, prefix),
                                        TestCredentials());
}

inline S3Store& S3Of(CodecStore& blocks) { return static_cast<S3Store&>(blocks.objects()); }

// An S3Store on the shared server under a fresh prefix.
inline std::unique_ptr<S3Store> MakeTestS3Objects(const Geometry& g, bool hash_prefix = false) {
  const std::string prefix = UniquePrefix();
  // Strict, as a new volume is: every block object must carry its CRC-32C.
  return std::make_unique<S3Store>(SharedServerClient(prefix), s3::KeyScheme{prefix, hash_prefix}, g,
                                   /*require_crc32c=*/true);
}
// The same under a raw codec layer.
inline std::unique_ptr<CodecStore> MakeTestS3Store(const Geometry& g, bool hash_prefix = false) {
  return RawBlocks(MakeTestS3Objects(g, hash_prefix));
}
// The same under the block map layer (what a read-write mount has), surveyed.
inline std::unique_ptr<BlockMapStore> MakeTestS3MappedStore(const Geometry& g) {
  auto map = std::make_unique<BlockMapStore>(MakeTestS3Store(g));
  if (map->RunSurvey()) return nullptr;
  return map;
}
#endif

}  // namespace s3bd::test
