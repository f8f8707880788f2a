// The eviction order (eviction_policy.h): blocks seen once go before blocks
// used again; a block evicted and soon listed again comes back protected.
#include "s3bd/cache/eviction_policy.h"

#include <gtest/gtest.h>

namespace s3bd {
namespace {

using Segment = EvictionPolicy::Segment;
const auto kAny = [](BlockNum) { return true; };

TEST(EvictionPolicy, SeenOnceGoesFirstLeastRecentlyUsedFirst) {
  EvictionPolicy p(8);
  for (BlockNum b = 1; b <= 4; ++b) p.Add(b);
  EXPECT_EQ(p.Victim(kAny), 1u);
  EXPECT_EQ(p.Touch(1, /*reused=*/false), Segment::kProbation);  // to the front of probation
  EXPECT_EQ(p.Victim(kAny), 2u);
  EXPECT_EQ(p.Touch(2, /*reused=*/true), Segment::kProbation);  // now protected
  EXPECT_EQ(p.size(Segment::kProtected), 1u);
  // 3, 4, 1 are seen once: all go before 2.
  for (BlockNum want : {3u, 4u, 1u}) {
    ASSERT_EQ(p.Victim(kAny), want);
    p.Evicted(want);
  }
  EXPECT_EQ(p.Victim(kAny), 2u);
  EXPECT_EQ(p.Touch(2, true), Segment::kProtected);
}

TEST(EvictionPolicy, VictimSkipsUnusableBlocksAndAddKeepsThePlace) {
  EvictionPolicy p(8);
  p.Add(1);
  p.Add(2);
  p.Add(1);  // already listed: stays the oldest
  EXPECT_EQ(p.Victim(kAny), 1u);
  EXPECT_EQ(p.Victim([](BlockNum b) { return b != 1; }), 2u);
  EXPECT_EQ(p.Victim([](BlockNum) { return false; }), std::nullopt);
  p.Remove(1);
  p.Remove(2);
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.Victim(kAny), std::nullopt);
}

TEST(EvictionPolicy, AnEvictedBlockThatComesBackIsProtected) {
  EvictionPolicy p(2);  // remembers the last 2 evictions
  for (BlockNum b = 1; b <= 3; ++b) {
    p.Add(b);
    p.Evicted(b);
  }
  p.Add(3);  // a ghost: protected
  p.Add(1);  // forgotten (only 2 and 3 were remembered): probation
  EXPECT_EQ(p.ghost_hits(), 1u);
  EXPECT_EQ(p.size(Segment::kProtected), 1u);
  EXPECT_EQ(p.Victim(kAny), 1u);
  p.Remove(3);  // not an eviction: no ghost
  p.Add(3);
  EXPECT_EQ(p.ghost_hits(), 1u);
}

}  // namespace
}  // namespace s3bd
