// The consistency guard over a store that serves stale reads: stale data is
// retried and never returned; min-write-delay; a bounded MD5 cache.
#include "s3bd/guard/consistency_guard.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

using std::chrono::milliseconds;
constexpr Geometry kGeom{4096, 64};

// Like an eventually consistent store: after a write or zero, the next
// `stale_reads` reads of that block return its previous content.
class StaleStore : public ForwardingStore {
 public:
  StaleStore(std::unique_ptr<BlockStore> next, int stale_reads)
      : ForwardingStore("stale", std::move(next)), stale_reads_(stale_reads) {}

 private:
  void Remember(BlockNum b) {
    std::vector<std::uint8_t> old(kGeom.block_size);
    ASSERT_FALSE(ForwardingStore::DoRead(b, old, nullptr));
    std::lock_guard lock(mu_);
    previous_[b] = {std::move(old), stale_reads_};
  }
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d, ObjectVersion* version) override {
    Remember(b);
    return ForwardingStore::DoWrite(b, d, version);
  }
  std::error_code DoZero(BlockNum b) override {
    Remember(b);
    return ForwardingStore::DoZero(b);
  }
  std::error_code DoRead(BlockNum b, std::span<std::uint8_t> out, ObjectVersion* version) override {
    {
      std::lock_guard lock(mu_);
      auto it = previous_.find(b);
      if (it != previous_.end() && it->second.second != 0) {
        if (it->second.second > 0) --it->second.second;
        std::copy(it->second.first.begin(), it->second.first.end(), out.begin());
        return {};
      }
    }
    return ForwardingStore::DoRead(b, out, version);
  }
  std::mutex mu_;
  std::map<BlockNum, std::pair<std::vector<std::uint8_t>, int>> previous_;
  const int stale_reads_;  // -1: stale forever
};

std::unique_ptr<BlockStore> Stack(int stale_reads, GuardConfig cfg) {
  auto stale = std::make_unique<StaleStore>(std::make_unique<MemoryStore>(kGeom), stale_reads);
  if (!cfg.enabled()) return stale;
  return std::make_unique<ConsistencyGuard>(std::move(stale), cfg);
}

GuardConfig On() {
  GuardConfig c;
  c.md5_cache_size = 100;
  c.md5_cache_time = milliseconds(60000);
  c.stale_retry_time = milliseconds(10000);
  return c;
}

std::string Stats(const BlockStore& s) {
  std::ostringstream os;
  s.PrintStats(os);
  return os.str();
}

TEST(ConsistencyGuard, WithoutGuardStaleDataIsReturned) {
  auto s = Stack(2, GuardConfig{});
  ASSERT_FALSE(s->Write(1, test::RandomBytes(4096, 1)));
  ASSERT_FALSE(s->Write(1, test::RandomBytes(4096, 2)));
  std::vector<std::uint8_t> out(4096);
  ASSERT_FALSE(s->Read(1, out));
  EXPECT_EQ(out, test::RandomBytes(4096, 1));  // the test store really is stale
}

TEST(ConsistencyGuard, StaleReadIsRetriedNeverReturned) {
  auto s = Stack(2, On());
  ASSERT_FALSE(s->Write(1, test::RandomBytes(4096, 1)));
  ASSERT_FALSE(s->Write(1, test::RandomBytes(4096, 2)));
  std::vector<std::uint8_t> out(4096);
  ASSERT_FALSE(s->Read(1, out));
  EXPECT_EQ(out, test::RandomBytes(4096, 2));
  EXPECT_NE(Stats(*s).find("stale reads       2 retried, 0 failed"), std::string::npos) << Stats(*s);
}

TEST(ConsistencyGuard, StaleAfterZeroIsRetried) {
  auto s = Stack(1, On());
  ASSERT_FALSE(s->Write(2, test::RandomBytes(4096, 3)));
  ASSERT_FALSE(s->Zero(2));
  std::vector<std::uint8_t> out(4096);
  ASSERT_FALSE(s->Read(2, out));
  EXPECT_TRUE(IsAllZero(out));
}

TEST(ConsistencyGuard, PersistentlyStaleFailsWithEio) {
  GuardConfig c = On();
  c.stale_retry_time = milliseconds(250);
  auto s = Stack(-1, c);
  ASSERT_FALSE(s->Write(3, test::RandomBytes(4096, 4)));
  ASSERT_FALSE(s->Write(3, test::RandomBytes(4096, 5)));
  std::vector<std::uint8_t> out(4096);
  EXPECT_EQ(s->Read(3, out), std::errc::io_error);
  EXPECT_NE(Stats(*s).find("1 failed"), std::string::npos) << Stats(*s);
}

TEST(ConsistencyGuard, UnrememberedBlocksPassThrough) {
  GuardConfig c = On();
  c.md5_cache_time = milliseconds(1);
  auto s = Stack(-1, c);
  ASSERT_FALSE(s->Write(4, test::RandomBytes(4096, 6)));
  ASSERT_FALSE(s->Write(4, test::RandomBytes(4096, 7)));
  // Once the write is forgotten the guard has nothing to check against.
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < milliseconds(5)) {
  }
  std::vector<std::uint8_t> out(4096);
  EXPECT_FALSE(s->Read(4, out));
}

TEST(ConsistencyGuard, MinWriteDelaySpacesWritesOfOneBlock) {
  GuardConfig c;
  c.min_write_delay = milliseconds(150);
  auto s = Stack(0, c);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(s->Write(5, test::RandomBytes(4096, 8)));
  ASSERT_FALSE(s->Write(5, test::RandomBytes(4096, 9)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
  ASSERT_FALSE(s->Write(6, test::RandomBytes(4096, 10)));  // another block: not delayed
  EXPECT_NE(Stats(*s).find("delayed writes    1"), std::string::npos) << Stats(*s);
}

TEST(ConsistencyGuard, FullMd5CacheMakesWritesWaitNotForget) {
  GuardConfig c = On();
  c.md5_cache_size = 1;
  c.md5_cache_time = milliseconds(100);
  auto s = Stack(0, c);
  ASSERT_FALSE(s->Write(7, test::RandomBytes(4096, 11)));
  ASSERT_FALSE(s->Write(8, test::RandomBytes(4096, 12)));  // waits for block 7 to expire
  EXPECT_NE(Stats(*s).find("full-cache waits  1"), std::string::npos) << Stats(*s);
}

}  // namespace
}  // namespace s3bd
