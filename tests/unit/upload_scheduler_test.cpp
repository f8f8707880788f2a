// The upload scheduler's decisions (upload_scheduler.h), on a hand-driven
// time line: write delay, hot-block heat, eligible order, urgency, and
// reads first.
#include "s3bd/cache/upload_scheduler.h"

#include <gtest/gtest.h>

namespace s3bd {
namespace {

using std::chrono::milliseconds;
using Kind = UploadScheduler::Decision::Kind;

CacheConfig Config() {
  CacheConfig c;
  c.write_delay = milliseconds(100);
  c.write_delay_max = milliseconds(1000);
  return c;
}

const CacheClock::time_point kT0 = CacheClock::time_point(std::chrono::hours(1));

TEST(UploadScheduler, DelayDoublesWithHeatUpToTheCap) {
  UploadScheduler s(Config(), 8);
  EXPECT_EQ(s.DelayFor(0), milliseconds(100));
  EXPECT_EQ(s.DelayFor(1), milliseconds(200));
  EXPECT_EQ(s.DelayFor(3), milliseconds(800));
  EXPECT_EQ(s.DelayFor(4), milliseconds(1000));
  EXPECT_EQ(s.DelayFor(1000), milliseconds(1000));  // no overflow
  CacheConfig zero = Config();
  zero.write_delay = milliseconds(0);
  EXPECT_EQ(UploadScheduler(zero, 8).DelayFor(5), milliseconds(0));
}

TEST(UploadScheduler, RewriteWithinTheDelayAfterAnUploadHeatsUpLaterOneCools) {
  UploadScheduler s(Config(), 8);
  EXPECT_EQ(s.HeatOnDirty(0, {}, kT0), 0u);  // never stored
  EXPECT_EQ(s.HeatOnDirty(0, kT0, kT0 + milliseconds(99)), 1u);
  EXPECT_EQ(s.HeatOnDirty(1, kT0, kT0 + milliseconds(199)), 2u);
  EXPECT_EQ(s.HeatOnDirty(2, kT0, kT0 + milliseconds(400)), 0u);  // its delay was 400 ms: cooled
  EXPECT_EQ(s.counters().heat_ups, 2u);
}

TEST(UploadScheduler, BlocksGoInEligibleOrderAndOnlyWhenDue) {
  UploadScheduler s(Config(), 8);
  s.Enqueue(7, kT0 + milliseconds(200));
  s.Enqueue(3, kT0 + milliseconds(100));
  s.Enqueue(5, kT0 + milliseconds(100));
  auto d = s.Next(kT0, 0);
  EXPECT_EQ(d.kind, Kind::kWaitUntil);
  EXPECT_EQ(d.until, kT0 + milliseconds(100));
  d = s.Next(kT0 + milliseconds(100), 0);
  ASSERT_EQ(d.kind, Kind::kUpload);
  EXPECT_EQ(d.block, 3u);  // FIFO among equal times
  d = s.Next(kT0 + milliseconds(100), 1);
  ASSERT_EQ(d.kind, Kind::kUpload);
  EXPECT_EQ(d.block, 5u);
  EXPECT_EQ(s.Next(kT0 + milliseconds(150), 2).kind, Kind::kWaitUntil);
  s.AddUrgent(1);  // a flush waits: no delay
  d = s.Next(kT0 + milliseconds(150), 2);
  ASSERT_EQ(d.kind, Kind::kUpload);
  EXPECT_EQ(d.block, 7u);
  EXPECT_EQ(s.Next(kT0, 0).kind, Kind::kWait);  // empty
  EXPECT_EQ(s.queued(), 0u);
}

TEST(UploadScheduler, WhileAReaderWaitsOnlyAQuarterOfTheWorkersUpload) {
  UploadScheduler s(Config(), 16);
  ASSERT_EQ(s.ReadPriorityUploads(), 4u);
  s.AddUrgent(1);
  for (BlockNum b = 0; b < 8; ++b) s.Enqueue(b, kT0);
  s.DemandLoadStarted();
  EXPECT_EQ(s.Next(kT0, 3).kind, Kind::kUpload);
  EXPECT_EQ(s.Next(kT0, 4).kind, Kind::kWait);  // held until the read ends
  EXPECT_TRUE(s.DemandLoadEnded(kT0));  // the last reader
  auto d = s.Next(kT0 + milliseconds(50), 4);  // still within the quiet time after the read
  EXPECT_EQ(d.kind, Kind::kWaitUntil);
  EXPECT_EQ(d.until, kT0 + milliseconds(100));
  EXPECT_EQ(s.Next(kT0 + milliseconds(100), 4).kind, Kind::kUpload);
  EXPECT_EQ(s.counters().held_for_reads, 2u);
  // Never fewer than 2 uploads while reading.
  EXPECT_EQ(UploadScheduler(Config(), 1).ReadPriorityUploads(), 2u);
}

}  // namespace
}  // namespace s3bd
