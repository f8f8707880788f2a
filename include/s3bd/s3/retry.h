// When to retry an S3 request, and how long to pause in between.
//
// Classification: the outcome of one attempt (a transport failure, or an
// HTTP status with the S3 error code from the body, if any) is
//  - kSuccess: 2xx, and 304 (a conditional GET that matched);
//  - kThrottle: the server asks us to slow down (429, 503, SlowDown and
//    other throttling error codes): retry, and callers may also reduce
//    their concurrency;
//  - kRetry: transient failures: other 5xx except 501, 408, S3
//    RequestTimeout / InternalError / OperationAborted, timeouts, connection
//    failures and resets, DNS failures, TLS handshake failures;
//  - kFatal: everything else: 400, 403, 404, other 4xx, 3xx redirects,
//    501, TLS certificate and TLS protocol errors, cancelled or locally
//    invalid requests.
//
// Schedule: pause n (n = 0, 1, ...) has the ceiling
// min(max_pause, initial * 2^n) (200 ms, 400 ms, 800 ms ... 10 s by
// default) and is drawn according to the jitter mode:
//  - kNone: the ceiling itself;
//  - kFull: uniform in [0, ceiling] (the default);
//  - kEqual: uniform in [ceiling/2, ceiling];
//  - kDecorrelated: uniform in [initial, 3 * previous pause], capped at max_pause.
// The retry budget bounds the total time: once `budget` has elapsed since
// the first attempt, no further attempt is made, and a pause never extends
// past the budget. An optional max_retries bounds the count as well.
//
// Contract: pure logic, no clock reads and no sleeping; the caller measures
// elapsed time and sleeps. The random source is injectable (a seed or a
// function) so tests are deterministic. Not thread-safe: one Backoff per
// request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace s3bd::s3 {

enum class TransportError {
  kNone,             // a complete HTTP response was received
  kTimeout,          // connect or transfer timed out
  kConnectFailed,    // connection refused / unreachable
  kConnectionReset,  // connection closed or reset mid-request
  kDnsFailure,       // host name did not resolve
  kTlsHandshake,     // TLS handshake failed (not a certificate problem)
  kTlsCertificate,   // certificate verification failed: a configuration problem
  kTlsProtocol,      // the server's TLS was refused (e.g. not TLS at all, no common
                     // protocol or cipher): a configuration problem
  kSendFailed,       // error sending the request
  kReceiveFailed,    // error receiving the response, or a truncated body
  kCancelled,        // we aborted the request (shutdown)
  kInvalidRequest,   // the request could not be made at all (bad URL, ...)
  kOther,            // any other transport error
};

enum class RetryClass { kSuccess, kRetry, kThrottle, kFatal };

inline bool IsRetryable(RetryClass c) { return c == RetryClass::kRetry || c == RetryClass::kThrottle; }

// For an HTTP response. `s3_error_code` is the <Code> of the error body, if known.
RetryClass ClassifyHttp(int http_status, std::string_view s3_error_code = {});
RetryClass ClassifyTransport(TransportError error);
// Transport error if any, else the HTTP response.
RetryClass Classify(TransportError error, int http_status, std::string_view s3_error_code = {});

// True for S3 / AWS error codes that mean "slow down".
bool IsThrottlingErrorCode(std::string_view s3_error_code);

enum class Jitter { kNone, kFull, kEqual, kDecorrelated };

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max_pause{10'000};
  std::chrono::milliseconds budget{60'000};  // total retry time
  Jitter jitter = Jitter::kFull;
  unsigned max_retries = 0;  // 0: bounded by the budget only
};

class Backoff {
 public:
  using Random = std::function<std::uint64_t()>;

  // Random source seeded from std::random_device.
  explicit Backoff(const BackoffPolicy& policy);
  // Deterministic: a 64-bit Mersenne Twister with this seed.
  Backoff(const BackoffPolicy& policy, std::uint64_t seed);
  // Any source of uniformly distributed 64-bit values.
  Backoff(const BackoffPolicy& policy, Random random);

  // The pause before the next attempt, or nullopt to give up. `elapsed` is the
  // time since the first attempt started, as measured by the caller.
  std::optional<std::chrono::milliseconds> NextPause(std::chrono::milliseconds elapsed);
  // The same, counting only the pauses themselves against the budget.
  std::optional<std::chrono::milliseconds> NextPause();

  unsigned retries() const { return retries_; }
  std::chrono::milliseconds total_pause() const { return total_pause_; }
  const BackoffPolicy& policy() const { return policy_; }
  // Starts over (a new request).
  void Reset();

 private:
  std::int64_t Uniform(std::int64_t lo, std::int64_t hi);  // inclusive

  BackoffPolicy policy_;
  Random random_;
  unsigned retries_ = 0;
  std::chrono::milliseconds previous_{0};
  std::chrono::milliseconds total_pause_{0};
};

}  // namespace s3bd::s3
