// The S3 client: object requests on one bucket, signed, retried and counted.
//
// Requests: GetObject, PutObject, DeleteObject, HeadObject, ListObjects
// (ListObjectsV2, following continuation tokens), DeleteObjects (batches of
// at most 1000 keys, with Content-MD5). Every attempt is signed afresh
// (SigV4 by default, SigV2 or unsigned when configured) and sent with
// HttpClient.
//
// Integrity: PutObject stores the CRC-32C of the body as user metadata
// (kCrc32cMetaHeader). Under SigV4 the signed payload hash
// (x-amz-content-sha256, which the server checks) protects the upload, so no
// MD5 is computed; under SigV2 or anonymous access the PUT carries
// Content-MD5 and the ETag returned must be the body's MD5 (not with
// SSE-KMS, whose ETag is not an MD5). A GET body is checked against the
// object's CRC-32C header when it has one (a malformed value counts as a
// mismatch), else against its ETag when that is an MD5 (a simple object,
// without SSE-KMS or SSE-C). A body that can be checked neither way (no
// CRC-32C header, no MD5 ETag, and no SSE-KMS or SSE-C to explain it: e.g.
// a proxy stripped the headers) is corrupt, and so is one without a CRC-32C
// header when the caller says every object has one (`require_crc32c`).
// Corrupt bodies are retried, then the GET fails with kCorruptBlock. A HEAD
// or a 304 has no body to check.
//
// Retries (retry.h): transport failures, 5xx, 429 and throttling codes are
// retried with exponential backoff and full jitter until the budget
// (--max-retry-time) is used up; a checksum mismatch (above) is retried the
// same way, or at most `checksum_attempts` times in all when that is set
// (`s3bd verify`: an object that is corrupt in the bucket stays corrupt). Everything else (403, 404 NoSuchBucket, other 4xx, TLS
// certificate and TLS protocol failures, which do not heal) fails at once.
// SetRetryLimit() changes the budget of failures that may heal while the
// client runs: until the server answers (--hard), or until a deadline (a
// stopping daemon); requests pausing between attempts see the change at
// once. Each retry is counted by its error class, and an OutageMonitor
// (outage.h) logs when requests start failing and when they work again.
//
// Errors: std::error_code plus a one-line detail (never a secret):
//   s3bd::Errc::kAccessDenied     "access denied to s3://bkt/prefix: check the credentials (...)"
//   s3bd::Errc::kNoSuchVolume     "bucket bkt does not exist"
//   s3bd::Errc::kStoreUnavailable "endpoint unreachable: URL (...)", "... timed out",
//                                 or a 5xx/throttling reply after the budget
//   s3bd::Errc::kCorruptBlock     checksum (CRC-32C or ETag) mismatch after the budget
//   s3::Errc::kHttpStatus / kBadResponse / kResponseTooLarge: anything else
// A GET or HEAD of a missing key (404 NoSuchKey) is not an error: *found is
// false. (A HEAD response has no body, so HEAD cannot tell a missing bucket
// from a missing key; start-up therefore reads the metadata with GET.)
// DELETE of a missing key succeeds.
//
// Metadata (MetaStore): ReadMeta/WriteMeta/DeleteMeta are GET/PUT/DELETE of
// prefix + key, conditional when asked (If-None-Match: *, If-Match: ETag).
//
// Thread-safe: any number of threads may issue requests; the only shared
// state is atomic counters and the credential provider (whose mutex is never
// held across a request).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "s3bd/core/meta_store.h"
#include "s3bd/core/retry_limit.h"
#include "s3bd/s3/credentials.h"
#include "s3bd/s3/http_client.h"
#include "s3bd/s3/outage.h"
#include "s3bd/s3/retry.h"
#include "s3bd/s3/xml.h"

namespace s3bd::s3 {

// The user metadata header in which PutObject stores the CRC-32C of an
// object's data (crypto.h Crc32Hex: 8 lowercase hex digits), extended over
// its other metadata pairs (MetaCrc), so that a proxy that drops or edits
// them makes the object fail its check as surely as a flipped byte.
inline constexpr std::string_view kCrc32cMetaHeader = "x-amz-meta-s3bd-crc32c";

// An object's metadata pairs as S3 carries them: pair N is the header
// x-amz-meta-N, except "content-encoding", which is Content-Encoding. On a
// GET: every x-amz-meta-* header but kCrc32cMetaHeader, and
// Content-Encoding, by name (lowercase) in order.
std::vector<NameValue> ObjectMetaOf(const std::vector<NameValue>& response_headers);
// The CRC-32C of a body (`body_crc`) extended over metadata pairs: each
// "name:value\n", in name order. With no pairs it is the body's CRC-32C.
std::uint32_t MetaCrc(std::uint32_t body_crc, std::vector<NameValue> meta);

enum class Addressing { kPath, kVirtualHost };
enum class AuthMode { kSigV4, kSigV2, kAnonymous };

struct S3ClientConfig {
  std::string endpoint;  // "scheme://host[:port]", no path, no trailing '/'
  std::string bucket;
  std::string prefix;    // key prefix of the volume ("" or "dir/"), for metadata and messages
  std::string region = "us-east-1";
  Addressing addressing = Addressing::kPath;
  AuthMode auth = AuthMode::kSigV4;
  // PUT headers; empty means "not sent".
  std::string storage_class;   // x-amz-storage-class
  std::string sse;             // x-amz-server-side-encryption: AES256 or aws:kms
  std::string sse_kms_key_id;  // x-amz-server-side-encryption-aws-kms-key-id
  std::string acl;             // x-amz-acl
  BackoffPolicy retry;
  // Attempts of a request whose body fails its checksum; 0: as any
  // failure that may heal (the retry budget).
  unsigned checksum_attempts = 0;
  HttpClientOptions http;
};

// Credentials that may expire (instance metadata) and be fetched again.
// Thread-safe; the refresh function runs without the mutex held.
class CredentialProvider {
 public:
  using RefreshFn = std::function<std::error_code(
      Credentials* out, std::optional<std::chrono::system_clock::time_point>* expiration,
      std::string* detail)>;
  // Static credentials.
  explicit CredentialProvider(Credentials credentials);
  // Credentials from `refresh`, fetched again `margin` before they expire.
  CredentialProvider(Credentials credentials,
                     std::optional<std::chrono::system_clock::time_point> expiration, RefreshFn refresh,
                     std::chrono::seconds margin = std::chrono::seconds(300));

  // The current credentials, refreshed first if they are about to expire. A
  // failed refresh keeps the old ones while they are still valid.
  std::error_code Get(Credentials* out, std::string* detail);

 private:
  std::mutex mu_;
  Credentials credentials_;
  std::optional<std::chrono::system_clock::time_point> expiration_;
  RefreshFn refresh_;
  std::chrono::seconds margin_;
  bool refreshing_ = false;
};

// Request statistics of one client.
class S3Stats {
 public:
  enum Kind { kGet, kPut, kDelete, kHead, kList, kDeleteMulti, kNumKinds };
  enum ErrorClass { kAccess, kNoBucket, kUnreachable, kTimeout, kServer, kThrottled, kChecksum, kTls,
                    kOtherError, kNumErrorClasses };
  static const char* KindName(Kind k);
  static const char* ErrorClassName(ErrorClass e);

  void CountAttempt(Kind k, std::uint64_t bytes_up, std::uint64_t bytes_down,
                    std::chrono::microseconds latency, bool reused);
  void CountRetry(ErrorClass e) {
    retries_++;
    retries_by_class_[e]++;
  }
  void CountError(ErrorClass e) { errors_[e]++; }
  void Fill(StatsJson& j) const;  // the keys of the "s3" layer's requests
  void Print(std::ostream& os) const;

  std::uint64_t requests(Kind k) const { return requests_[k].load(); }
  std::uint64_t total_requests() const;
  std::uint64_t retries() const { return retries_.load(); }
  std::uint64_t retries(ErrorClass e) const { return retries_by_class_[e].load(); }
  std::uint64_t errors(ErrorClass e) const { return errors_[e].load(); }
  std::uint64_t reused() const { return reused_.load(); }
  // Latency below which 99% of the attempts finished (bucket upper bound).
  std::chrono::microseconds P99() const;

 private:
  static constexpr int kBuckets = 96;  // 4 per power of two of microseconds
  static int BucketOf(std::uint64_t us);
  static std::uint64_t BucketUpper(int b);

  std::array<std::atomic<std::uint64_t>, kNumKinds> requests_{};
  std::array<std::atomic<std::uint64_t>, kNumErrorClasses> errors_{};
  std::array<std::atomic<std::uint64_t>, kNumErrorClasses> retries_by_class_{};
  std::array<std::atomic<std::uint64_t>, kBuckets> latency_{};
  std::atomic<std::uint64_t> bytes_up_{0}, bytes_down_{0}, latency_us_{0}, reused_{0}, retries_{0};
};

class S3Client : public MetaStore {
 public:
  // `credentials` may be null only with AuthMode::kAnonymous.
  S3Client(S3ClientConfig config, std::shared_ptr<CredentialProvider> credentials);

  // *found = false for a missing key. `max_size` bounds the body. `etag`,
  // if not null, receives the object's ETag (unquoted, lowercase).
  std::error_code GetObject(const std::string& key, std::string* body, bool* found,
                            std::size_t max_size, std::string* detail, std::string* etag = nullptr);
  // GetObject straight into a caller's buffer, without a copy: the body
  // (at most out.size() bytes, else Errc::kResponseTooLarge) is written to
  // the start of `out` and *size is its length (0 for a missing key). Every
  // attempt writes there, so after an error `out` holds unspecified bytes.
  // `meta`, if not null, receives the object's metadata (ObjectMetaOf) and
  // `etag` its ETag (unquoted, lowercase). With `if_none_match` (a
  // lowercase hex MD5 ETag), the GET is conditional: when the object's ETag
  // is still that, the server answers 304, *not_modified is true and no
  // body arrives (`out` may still hold bytes of an earlier failed attempt).
  std::error_code GetObjectInto(const std::string& key, std::span<std::uint8_t> out, std::size_t* size,
                                bool* found, std::string* detail, bool require_crc32c = false,
                                std::vector<NameValue>* meta = nullptr, std::string* etag = nullptr,
                                const std::string* if_none_match = nullptr, bool* not_modified = nullptr);
  // Conditional requests (`cond`): kAbsent sends If-None-Match: *, kVersion
  // If-Match with the ETag in the spelling the server honours (quoted per
  // RFC 9110 unless ProbeConditions() found that only the bare ETag works, as
  // on Ceph RGW 16). A condition that does not hold (412 PreconditionFailed,
  // or 409 ConditionalRequestConflict) is s3bd::Errc::kConditionFailed, not
  // retried. `etag`, if not null, receives the new object's ETag (unquoted).
  // `meta`: metadata pairs stored with the object (see ObjectMetaOf).
  std::error_code PutObject(const std::string& key, std::span<const std::uint8_t> body,
                            std::string* detail, const MetaCondition& cond = {}, std::string* etag = nullptr,
                            const std::vector<NameValue>& meta = {});
  std::error_code DeleteObject(const std::string& key, std::string* detail, const MetaCondition& cond = {});
  std::error_code HeadObject(const std::string& key, bool* found, std::uint64_t* size,
                             std::string* detail);
  // Lists keys under `prefix` after `start_after` (exclusive; "" = from the
  // start) in key order, page by page; stops early when `fn` returns false.
  std::error_code ListObjects(const std::string& prefix, const std::string& start_after,
                              const std::function<bool(const ListedObject&)>& fn, std::string* detail);
  // Deletes the keys in batches of kMaxDeleteKeys; a key that cannot be
  // deleted is an error.
  std::error_code DeleteObjects(std::span<const std::string> keys, std::string* detail);

  // MetaStore: prefix + key; the version is the ETag.
  std::error_code ReadMeta(const std::string& key, std::string& value, std::string* version) override;
  std::error_code WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                            std::string* version) override;
  std::error_code DeleteMeta(const std::string& key, const MetaCondition& cond) override;
  // On prefix + key, always with the same body: PUT If-None-Match: *
  // (twice: the second must fail; a probe object left over is deleted
  // first); PUT If-Match with a wrong ETag (must fail); PUT If-Match with
  // the right ETag quoted, else bare (must succeed; decides the spelling
  // used from then on); DELETE. *enforced is false if any condition was
  // ignored. 5 requests on a server that honours the quoted ETag.
  std::error_code ProbeConditions(const std::string& key, bool* enforced) override;
  // Whether If-Match carries the ETag without quotes (see ProbeConditions).
  bool bare_if_match() const { return bare_if_match_.load(); }
  // The detail of the last failed ReadMeta/WriteMeta (for start-up messages).
  std::string last_meta_error() const;

  // "s3://bucket/prefix" (without a trailing '/').
  std::string Location() const;
  const S3ClientConfig& config() const { return config_; }
  const S3Stats& stats() const { return stats_; }
  const OutageMonitor& outage() const { return outage_; }

  // See "Retries" above. Thread-safe.
  void SetRetryLimit(const RetryLimit& limit);

 private:
  struct Call;
  std::error_code Execute(Call& call, std::string* detail);
  // The GETs' common part; the body is left in call.response (or
  // call.body_out, when set).
  std::error_code Get(Call& call, const std::string& key, const std::string* if_none_match, bool require_crc32c,
                      bool* found, bool* not_modified, std::string* detail);
  std::error_code Sign(Call& call, HttpRequest* request, std::string* detail);
  void AddCondition(Call& call, const MetaCondition& cond) const;
  std::string ObjectUrlForLog(const std::string& key) const;
  RetryLimit retry_limit() const;
  // What failing requests do now, for the outage lines.
  std::string RetryPlan(const RetryLimit& limit) const;

  const S3ClientConfig config_;
  const std::shared_ptr<CredentialProvider> credentials_;
  HttpClient http_;
  S3Stats stats_;
  OutageMonitor outage_;
  // Guards limit_; pause_cv_ wakes requests pausing between attempts when
  // it changes.
  mutable std::mutex limit_mu_;
  std::condition_variable pause_cv_;
  RetryLimit limit_;
  std::atomic<bool> limit_set_{false};  // SetRetryLimit() was called
  mutable std::mutex meta_mu_;
  std::string last_meta_error_;
  std::atomic<bool> bare_if_match_{false};
};

}  // namespace s3bd::s3
