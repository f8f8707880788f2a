// Tests of retry classification and the backoff schedule (src/s3/retry.cpp).
#include "s3bd/s3/retry.h"

#include <gtest/gtest.h>

#include <vector>

namespace s3bd::s3 {
namespace {

using std::chrono::milliseconds;

TEST(S3RetryClassify, HttpStatus) {
  EXPECT_EQ(ClassifyHttp(200), RetryClass::kSuccess);
  EXPECT_EQ(ClassifyHttp(204), RetryClass::kSuccess);
  EXPECT_EQ(ClassifyHttp(206), RetryClass::kSuccess);
  EXPECT_EQ(ClassifyHttp(304), RetryClass::kSuccess);
  for (int s : {500, 502, 504, 599, 408}) EXPECT_EQ(ClassifyHttp(s), RetryClass::kRetry) << s;
  for (int s : {429, 503}) EXPECT_EQ(ClassifyHttp(s), RetryClass::kThrottle) << s;
  for (int s : {301, 307, 400, 401, 403, 404, 405, 409, 411, 412, 416, 501}) {
    EXPECT_EQ(ClassifyHttp(s), RetryClass::kFatal) << s;
  }
}

TEST(S3RetryClassify, S3ErrorCodes) {
  EXPECT_EQ(ClassifyHttp(503, "SlowDown"), RetryClass::kThrottle);
  EXPECT_EQ(ClassifyHttp(400, "Throttling"), RetryClass::kThrottle);
  EXPECT_EQ(ClassifyHttp(400, "RequestTimeout"), RetryClass::kRetry);
  EXPECT_EQ(ClassifyHttp(500, "InternalError"), RetryClass::kRetry);
  EXPECT_EQ(ClassifyHttp(409, "OperationAborted"), RetryClass::kRetry);
  EXPECT_EQ(ClassifyHttp(403, "AccessDenied"), RetryClass::kFatal);
  EXPECT_EQ(ClassifyHttp(403, "SignatureDoesNotMatch"), RetryClass::kFatal);
  EXPECT_EQ(ClassifyHttp(403, "RequestTimeTooSkewed"), RetryClass::kFatal);
  EXPECT_EQ(ClassifyHttp(404, "NoSuchKey"), RetryClass::kFatal);
  EXPECT_EQ(ClassifyHttp(404, "NoSuchBucket"), RetryClass::kFatal);
  EXPECT_EQ(ClassifyHttp(400, "InvalidArgument"), RetryClass::kFatal);
  EXPECT_TRUE(IsThrottlingErrorCode("SlowDown"));
  EXPECT_FALSE(IsThrottlingErrorCode("slowdown"));
  EXPECT_FALSE(IsThrottlingErrorCode(""));
}

TEST(S3RetryClassify, TransportErrors) {
  for (TransportError e : {TransportError::kTimeout, TransportError::kConnectFailed,
                           TransportError::kConnectionReset, TransportError::kDnsFailure,
                           TransportError::kTlsHandshake, TransportError::kSendFailed,
                           TransportError::kReceiveFailed, TransportError::kOther}) {
    EXPECT_EQ(ClassifyTransport(e), RetryClass::kRetry) << static_cast<int>(e);
    // A transport error wins over whatever status was recorded.
    EXPECT_EQ(Classify(e, 200), RetryClass::kRetry);
  }
  for (TransportError e : {TransportError::kTlsCertificate, TransportError::kTlsProtocol, TransportError::kCancelled,
                           TransportError::kInvalidRequest}) {
    EXPECT_EQ(ClassifyTransport(e), RetryClass::kFatal) << static_cast<int>(e);
  }
  EXPECT_EQ(Classify(TransportError::kNone, 503, "SlowDown"), RetryClass::kThrottle);
  EXPECT_EQ(Classify(TransportError::kNone, 404), RetryClass::kFatal);
  EXPECT_TRUE(IsRetryable(RetryClass::kRetry));
  EXPECT_TRUE(IsRetryable(RetryClass::kThrottle));
  EXPECT_FALSE(IsRetryable(RetryClass::kFatal));
  EXPECT_FALSE(IsRetryable(RetryClass::kSuccess));
}

BackoffPolicy NoJitter() {
  BackoffPolicy p;
  p.initial = milliseconds(200);
  p.max_pause = milliseconds(10'000);
  p.budget = milliseconds(1'000'000);
  p.jitter = Jitter::kNone;
  return p;
}

TEST(S3Backoff, DoublesUpToTheCap) {
  Backoff b(NoJitter(), 1);
  std::vector<long> pauses;
  for (int i = 0; i < 10; ++i) pauses.push_back(b.NextPause()->count());
  EXPECT_EQ(pauses, (std::vector<long>{200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000, 10000}));
  EXPECT_EQ(b.retries(), 10u);
  EXPECT_EQ(b.total_pause(), milliseconds(200 + 400 + 800 + 1600 + 3200 + 6400 + 40000));
}

TEST(S3Backoff, BudgetBoundsTotalTime) {
  BackoffPolicy p = NoJitter();
  p.budget = milliseconds(1000);
  Backoff b(p, 1);
  EXPECT_EQ(b.NextPause(), milliseconds(200));
  EXPECT_EQ(b.NextPause(), milliseconds(400));
  EXPECT_EQ(b.NextPause(), milliseconds(400));  // clipped to what is left of the budget
  EXPECT_EQ(b.NextPause(), std::nullopt);
  EXPECT_EQ(b.total_pause(), milliseconds(1000));
}

TEST(S3Backoff, BudgetCountsCallerMeasuredTime) {
  BackoffPolicy p = NoJitter();
  p.budget = milliseconds(5000);
  Backoff b(p, 1);
  // Slow attempts eat the budget too.
  EXPECT_EQ(b.NextPause(milliseconds(1000)), milliseconds(200));
  EXPECT_EQ(b.NextPause(milliseconds(4700)), milliseconds(300));
  EXPECT_EQ(b.NextPause(milliseconds(5000)), std::nullopt);
  EXPECT_EQ(b.NextPause(milliseconds(99999)), std::nullopt);
}

TEST(S3Backoff, MaxRetries) {
  BackoffPolicy p = NoJitter();
  p.max_retries = 3;
  Backoff b(p, 1);
  EXPECT_TRUE(b.NextPause());
  EXPECT_TRUE(b.NextPause());
  EXPECT_TRUE(b.NextPause());
  EXPECT_FALSE(b.NextPause());
  b.Reset();
  EXPECT_EQ(b.NextPause(), milliseconds(200));
}

TEST(S3Backoff, ZeroBudgetMeansNoRetry) {
  BackoffPolicy p = NoJitter();
  p.budget = milliseconds(0);
  Backoff b(p, 1);
  EXPECT_FALSE(b.NextPause());
}

TEST(S3Backoff, FullJitterStaysWithinCeiling) {
  BackoffPolicy p = NoJitter();
  p.jitter = Jitter::kFull;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    Backoff b(p, seed);
    long ceiling = 200;
    for (int i = 0; i < 12; ++i) {
      const long pause = b.NextPause()->count();
      EXPECT_GE(pause, 0);
      EXPECT_LE(pause, ceiling);
      ceiling = std::min(ceiling * 2, 10000L);
    }
  }
}

TEST(S3Backoff, EqualJitterKeepsHalf) {
  BackoffPolicy p = NoJitter();
  p.jitter = Jitter::kEqual;
  Backoff b(p, 7);
  long ceiling = 200;
  for (int i = 0; i < 12; ++i) {
    const long pause = b.NextPause()->count();
    EXPECT_GE(pause, ceiling / 2);
    EXPECT_LE(pause, ceiling);
    ceiling = std::min(ceiling * 2, 10000L);
  }
}

TEST(S3Backoff, DecorrelatedJitterBounds) {
  BackoffPolicy p = NoJitter();
  p.jitter = Jitter::kDecorrelated;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    Backoff b(p, seed);
    long previous = 200;
    for (int i = 0; i < 20; ++i) {
      const long pause = b.NextPause()->count();
      EXPECT_GE(pause, 200);
      EXPECT_LE(pause, std::min(previous * 3, 10000L));
      previous = pause;
    }
  }
}

TEST(S3Backoff, SameSeedSameSchedule) {
  BackoffPolicy p = NoJitter();
  p.jitter = Jitter::kFull;
  Backoff a(p, 42), b(p, 42), c(p, 43);
  std::vector<long> sa, sb, sc;
  for (int i = 0; i < 8; ++i) {
    sa.push_back(a.NextPause()->count());
    sb.push_back(b.NextPause()->count());
    sc.push_back(c.NextPause()->count());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(S3Backoff, InjectedRandomSource) {
  BackoffPolicy p = NoJitter();
  p.jitter = Jitter::kFull;
  // Always the maximum value of the range: r % (ceiling + 1) == ceiling needs
  // r == ceiling, so feed exactly that.
  std::vector<std::uint64_t> values = {200, 400, 0};
  std::size_t i = 0;
  Backoff b(p, [&] { return values[i++ % values.size()]; });
  EXPECT_EQ(b.NextPause(), milliseconds(200));
  EXPECT_EQ(b.NextPause(), milliseconds(400));
  EXPECT_EQ(b.NextPause(), milliseconds(0));
}

TEST(S3Backoff, SaneWithDegeneratePolicy) {
  BackoffPolicy p;
  p.initial = milliseconds(0);
  p.max_pause = milliseconds(0);
  p.budget = milliseconds(10);
  p.jitter = Jitter::kNone;
  Backoff b(p, 1);
  EXPECT_EQ(b.NextPause(), milliseconds(1));
  BackoffPolicy huge;
  huge.initial = milliseconds(1);
  huge.max_pause = milliseconds(INT64_MAX / 2);
  huge.budget = milliseconds(INT64_MAX / 2);
  huge.jitter = Jitter::kNone;
  // No overflow anywhere: pauses stay non-negative, the total within budget.
  for (Jitter j : {Jitter::kNone, Jitter::kFull, Jitter::kEqual, Jitter::kDecorrelated}) {
    huge.jitter = j;
    Backoff h(huge, 1);
    for (int i = 0; i < 200; ++i) {
      const auto pause = h.NextPause();
      if (!pause) break;
      ASSERT_GE(pause->count(), 0);
    }
    EXPECT_LE(h.total_pause(), huge.budget);
  }
}

}  // namespace
}  // namespace s3bd::s3
