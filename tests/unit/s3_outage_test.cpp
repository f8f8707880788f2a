// OutageMonitor: which lines an outage produces, on an injected clock. And
// the S3 client's use of it and of RetryLimit against a scripted server.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "s3_test_support.h"
#include "scripted_http_server.h"
#include "s3bd/core/errors.h"
#include "s3bd/s3/outage.h"

namespace s3bd::test {
namespace {

using namespace std::chrono_literals;
using s3::OutageMonitor;

struct Fixture {
  OutageMonitor::Clock::time_point now{};
  std::vector<std::string> lines;
  OutageMonitor monitor{"http://e", 60s, [this](const std::string& l) { lines.push_back(l); },
                        [this] { return now; }};
};

TEST(OutageMonitor, OneLineWhenFailingStartsOneWhenItEnds) {
  Fixture f;
  f.monitor.SetPlan("retrying");
  f.monitor.Succeeded();
  EXPECT_TRUE(f.lines.empty());
  f.monitor.Failed("endpoint unreachable");
  ASSERT_EQ(f.lines.size(), 1u);
  EXPECT_EQ(f.lines[0], "requests to http://e are failing: endpoint unreachable; retrying");
  f.now += 5s;
  f.monitor.Failed("endpoint unreachable");
  f.monitor.Failed("endpoint unreachable");
  EXPECT_EQ(f.lines.size(), 1u);
  EXPECT_TRUE(f.monitor.failing());
  f.now += 2s;
  f.monitor.Succeeded();
  ASSERT_EQ(f.lines.size(), 2u);
  EXPECT_EQ(f.lines[1], "requests to http://e succeed again after 7.0 s (3 retries)");
  EXPECT_FALSE(f.monitor.failing());
  EXPECT_EQ(f.monitor.outages(), 1u);
}

TEST(OutageMonitor, LongOutageRepeatsOncePerInterval) {
  Fixture f;
  f.monitor.Waiting(+1);
  f.monitor.Failed("timed out");
  for (int s = 1; s <= 130; ++s) {
    f.now += 1s;
    f.monitor.Failed("timed out");
  }
  // At 0 s, 60 s and 120 s.
  ASSERT_EQ(f.lines.size(), 3u);
  EXPECT_EQ(f.lines[1], "requests to http://e have been failing for 60 s (61 retries, 1 requests waiting): timed out");
  std::ostringstream os;
  f.monitor.Print(os);
  EXPECT_EQ(os.str(), "  outage            failing for 130.0 s, 131 retries, 1 requests waiting: timed out\n");
}

TEST(OutageMonitor, FlappingServerGivesAtMostOneStartLinePerInterval) {
  Fixture f;
  for (int i = 0; i < 50; ++i) {
    f.monitor.Failed("HTTP 503");
    f.now += 1s;
    f.monitor.Succeeded();
  }
  // The first outage is announced and seen to end; the next 49, within the
  // interval, are silent. The 61st, a minute on, is announced again.
  EXPECT_EQ(f.lines.size(), 2u);
  EXPECT_EQ(f.monitor.outages(), 50u);
  f.now += 60s;
  f.monitor.Failed("HTTP 503");
  EXPECT_EQ(f.lines.size(), 3u);
  std::ostringstream os;
  f.monitor.Succeeded();
  f.monitor.Print(os);
  EXPECT_EQ(os.str(), "  outage            none (51 so far)\n");
}

// The client against a server that is down (503) for its first N requests.
class S3ClientOutage : public ::testing::Test {
 protected:
  void FailFirst(int n) {
    server_.SetHandler([this, n](const RecordedRequest&, httplib::Response& res) {
      if (count_++ < n) {
        res.status = 503;
        res.set_content("<Error><Code>ServiceUnavailable</Code></Error>", "application/xml");
      } else {
        res.status = 200;
        res.set_header("ETag", "\"9dd4e461268c8034f5c8564e155c67a6\"");  // MD5 of "x"
        res.set_content("x", "application/octet-stream");
      }
    });
  }
  std::error_code Get(s3::S3Client& c, std::string* detail) {
    std::string body;
    bool found = false;
    return c.GetObject("prefix/k", &body, &found, 1 << 20, detail);
  }
  ScriptedHttpServer server_;
  std::atomic<int> count_{0};
};

TEST_F(S3ClientOutage, RetriesAreCountedByClass) {
  FailFirst(3);
  s3::S3Client client(TestClientConfig(server_.url()), TestCredentials());
  std::string detail;
  ASSERT_FALSE(Get(client, &detail)) << detail;
  EXPECT_EQ(client.stats().retries(), 3u);
  EXPECT_EQ(client.stats().retries(s3::S3Stats::kServer), 3u);
  EXPECT_EQ(client.stats().retries(s3::S3Stats::kUnreachable), 0u);
  EXPECT_EQ(client.outage().outages(), 1u);
  EXPECT_FALSE(client.outage().failing());
  std::ostringstream os;
  client.stats().Print(os);
  EXPECT_NE(os.str().find("  retries 3 server-error=3\n"), std::string::npos) << os.str();
}

TEST_F(S3ClientOutage, UntilAnsweredOutlastsTheBudget) {
  // 2 s budget, pauses of at most 50 ms: 60 failures take longer than the
  // budget allows, and the request still succeeds.
  FailFirst(60);
  s3::S3Client client(TestClientConfig(server_.url()), TestCredentials());
  client.SetRetryLimit(RetryLimit{.until_answered = true, .give_up_at = {}});
  std::string detail;
  ASSERT_FALSE(Get(client, &detail)) << detail;
  EXPECT_EQ(count_.load(), 61);

  // The same without it gives up.
  count_ = 0;
  FailFirst(1000000);
  s3::S3Client soft(TestClientConfig(server_.url()), TestCredentials());
  EXPECT_EQ(Get(soft, &detail), make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(detail.find("gave up after"), std::string::npos) << detail;
}

TEST_F(S3ClientOutage, GiveUpAtEndsARequestThatRetriesUntilAnswered) {
  FailFirst(1000000);
  auto config = TestClientConfig(server_.url());
  config.retry.initial = 100ms;
  config.retry.max_pause = 10s;  // long pauses: the stop must cut them short
  s3::S3Client client(config, TestCredentials());
  client.SetRetryLimit(RetryLimit{.until_answered = true, .give_up_at = {}});
  auto result = std::async(std::launch::async, [&] {
    std::string detail;
    const std::error_code ec = Get(client, &detail);
    return std::make_pair(ec, detail);
  });
  // Wait until it is retrying, then stop: give up at once.
  while (client.stats().retries() < 3) std::this_thread::yield();
  client.SetRetryLimit(RetryLimit{.until_answered = true, .give_up_at = std::chrono::steady_clock::now()});
  const auto [ec, detail] = result.get();
  EXPECT_EQ(ec, make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(detail.find("s3bd is stopping"), std::string::npos) << detail;
}

TEST_F(S3ClientOutage, GiveUpAtDoesNotLimitFirstAttempts) {
  FailFirst(0);
  s3::S3Client client(TestClientConfig(server_.url()), TestCredentials());
  client.SetRetryLimit(RetryLimit{.until_answered = false, .give_up_at = std::chrono::steady_clock::now()});
  std::string detail;
  EXPECT_FALSE(Get(client, &detail)) << detail;
}

}  // namespace
}  // namespace s3bd::test
