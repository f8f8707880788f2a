// Sequential-access detection.
#include "s3bd/cache/read_ahead.h"

#include <gtest/gtest.h>

namespace s3bd {
namespace {

using Range = std::pair<BlockNum, BlockNum>;

TEST(ReadAhead, WindowOpensAtTriggerAndDoubles) {
  ReadAheadDetector d(8, 2, 1000);
  EXPECT_EQ(d.OnRead(10), Range(0, 0));
  EXPECT_EQ(d.OnRead(11), Range(12, 14));   // window 2
  EXPECT_EQ(d.OnRead(12), Range(14, 17));   // window 4: up to 12+1+4
  EXPECT_EQ(d.OnRead(13), Range(17, 22));   // window 8
  EXPECT_EQ(d.OnRead(14), Range(22, 23));   // stays at 8
  EXPECT_EQ(d.OnRead(14), Range(0, 0));     // same block again: nothing new
}

TEST(ReadAhead, RandomAccessPrefetchesNothing) {
  ReadAheadDetector d(8, 2, 1000);
  for (BlockNum b : {5, 100, 37, 900, 2, 600, 41, 300}) EXPECT_EQ(d.OnRead(b), Range(0, 0)) << b;
}

TEST(ReadAhead, StopsAtTheEndAndCanBeOff) {
  ReadAheadDetector d(8, 2, 12);
  d.OnRead(9);
  EXPECT_EQ(d.OnRead(10), Range(11, 12));
  EXPECT_EQ(d.OnRead(11), Range(0, 0));
  ReadAheadDetector off(0, 2, 100);
  off.OnRead(1);
  EXPECT_EQ(off.OnRead(2), Range(0, 0));
}

TEST(ReadAhead, TwoInterleavedStreams) {
  ReadAheadDetector d(4, 2, 1000);
  d.OnRead(100);
  d.OnRead(500);
  EXPECT_EQ(d.OnRead(101), Range(102, 104));
  EXPECT_EQ(d.OnRead(501), Range(502, 504));
}

}  // namespace
}  // namespace s3bd
