// Retry classification and backoff schedule; see include/s3bd/s3/retry.h.
#include "s3bd/s3/retry.h"

#include <algorithm>
#include <array>
#include <memory>
#include <random>

namespace s3bd::s3 {

namespace {

constexpr std::array<std::string_view, 12> kThrottlingCodes = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
};

// Error codes that S3 returns with a 4xx status but that are transient.
constexpr std::array<std::string_view, 5> kTransientCodes = {
    "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
    "OperationAborted",
};

template <std::size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

Backoff::Random MersenneTwister(std::uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return (*engine)(); };
}

}  // namespace

bool IsThrottlingErrorCode(std::string_view s3_error_code) {
  return Contains(kThrottlingCodes, s3_error_code);
}

RetryClass ClassifyHttp(int http_status, std::string_view s3_error_code) {
  if ((http_status >= 200 && http_status < 300) || http_status == 304) return RetryClass::kSuccess;
  if (IsThrottlingErrorCode(s3_error_code)) return RetryClass::kThrottle;
  if (Contains(kTransientCodes, s3_error_code)) return RetryClass::kRetry;
  if (http_status == 429 || http_status == 503) return RetryClass::kThrottle;
  if (http_status == 408) return RetryClass::kRetry;
  if (http_status == 501) return RetryClass::kFatal;  // the server lacks a feature: permanent
  if (http_status >= 500 && http_status < 600) return RetryClass::kRetry;
  return RetryClass::kFatal;
}

RetryClass ClassifyTransport(TransportError error) {
  switch (error) {
    case TransportError::kNone:
      return RetryClass::kSuccess;
    case TransportError::kTimeout:
    case TransportError::kConnectFailed:
    case TransportError::kConnectionReset:
    case TransportError::kDnsFailure:
    case TransportError::kTlsHandshake:
    case TransportError::kSendFailed:
    case TransportError::kReceiveFailed:
    case TransportError::kOther:
      return RetryClass::kRetry;
    case TransportError::kTlsCertificate:
    case TransportError::kTlsProtocol:
    case TransportError::kCancelled:
    case TransportError::kInvalidRequest:
      return RetryClass::kFatal;
  }
  return RetryClass::kFatal;
}

RetryClass Classify(TransportError error, int http_status, std::string_view s3_error_code) {
  if (error != TransportError::kNone) return ClassifyTransport(error);
  return ClassifyHttp(http_status, s3_error_code);
}

namespace {
// A seed per request without opening the system's random device each time
// (one Backoff is made for every request).
std::uint64_t FreshSeed() {
  thread_local std::mt19937_64 seeds{std::random_device{}()};
  return seeds();
}
}  // namespace

Backoff::Backoff(const BackoffPolicy& policy) : Backoff(policy, FreshSeed()) {}

Backoff::Backoff(const BackoffPolicy& policy, std::uint64_t seed)
    : Backoff(policy, MersenneTwister(seed)) {}

Backoff::Backoff(const BackoffPolicy& policy, Random random)
    : policy_(policy), random_(random ? std::move(random) : MersenneTwister(0)) {
  // Keep the arithmetic sane whatever the caller passed.
  using std::chrono::milliseconds;
  policy_.initial = std::max(policy_.initial, milliseconds(1));
  policy_.max_pause = std::max(policy_.max_pause, policy_.initial);
  policy_.budget = std::max(policy_.budget, milliseconds(0));
  previous_ = policy_.initial;
}

void Backoff::Reset() {
  retries_ = 0;
  previous_ = policy_.initial;
  total_pause_ = std::chrono::milliseconds(0);
}

std::int64_t Backoff::Uniform(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  // Rejection sampling for an unbiased draw.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % span);
  std::uint64_t r = random_();
  for (int i = 0; r >= limit && i < 64; ++i) r = random_();
  return lo + static_cast<std::int64_t>(r % span);
}

std::optional<std::chrono::milliseconds> Backoff::NextPause(std::chrono::milliseconds elapsed) {
  using std::chrono::milliseconds;
  if (policy_.max_retries != 0 && retries_ >= policy_.max_retries) return std::nullopt;
  const milliseconds remaining = policy_.budget - std::max(elapsed, milliseconds(0));
  if (remaining <= milliseconds(0)) return std::nullopt;

  const std::int64_t initial = policy_.initial.count();
  const std::int64_t cap = policy_.max_pause.count();
  // initial * 2^retries, without overflowing.
  std::int64_t ceiling = initial;
  for (unsigned i = 0; i < retries_ && ceiling < cap; ++i) ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
  ceiling = std::min(ceiling, cap);

  std::int64_t pause = 0;
  switch (policy_.jitter) {
    case Jitter::kNone:
      pause = ceiling;
      break;
    case Jitter::kFull:
      pause = Uniform(0, ceiling);
      break;
    case Jitter::kEqual:
      pause = Uniform(ceiling / 2, ceiling);
      break;
    case Jitter::kDecorrelated: {
      const std::int64_t previous = std::max(initial, previous_.count());
      const std::int64_t upper = previous > cap / 3 ? cap : previous * 3;
      pause = std::min(cap, Uniform(initial, upper));
      break;
    }
  }
  pause = std::min(pause, remaining.count());
  previous_ = milliseconds(pause);
  total_pause_ += previous_;
  ++retries_;
  return previous_;
}

std::optional<std::chrono::milliseconds> Backoff::NextPause() { return NextPause(total_pause_); }

}  // namespace s3bd::s3
