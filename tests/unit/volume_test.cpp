// Volume: head/body/tail splitting, bounds, and zeroing, over a MemoryStore
// whose counters show which block operations each request became.
#include "s3bd/volume/volume.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "s3bd/store/memory_store.h"
#include "gate_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 8};

std::string Stats(const BlockStore& s) {
  std::ostringstream os;
  s.PrintStats(os);
  return os.str();
}

TEST(Volume, UnalignedWriteSpanningBlocks) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(3 * 4096, 1);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(100, data, done));
  EXPECT_EQ(done, data.size());
  EXPECT_EQ(store.StoredBlocks(), 4u);  // head, 2 whole blocks, tail
  std::vector<std::uint8_t> back(data.size() + 200);
  ASSERT_FALSE(vol.Read(0, back, done));
  EXPECT_EQ(done, back.size());
  EXPECT_TRUE(std::all_of(back.begin(), back.begin() + 100, [](auto b) { return b == 0; }));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin() + 100));
}

TEST(Volume, WholeBlockWriteDoesNoRead) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(2 * 4096, 2);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(4096, data, done));
  EXPECT_NE(Stats(store).find("read                0 ops"), std::string::npos) << Stats(store);
}

TEST(Volume, ReadAtEndIsShort) {
  MemoryStore store(kGeom);
  Volume vol(store);
  std::vector<std::uint8_t> buf(1000);
  std::size_t done = 7;
  ASSERT_FALSE(vol.Read(kGeom.size() - 10, buf, done));
  EXPECT_EQ(done, 10u);
  ASSERT_FALSE(vol.Read(kGeom.size(), buf, done));
  EXPECT_EQ(done, 0u);
}

TEST(Volume, WritePastEnd) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(100, 3);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(kGeom.size() - 10, data, done));
  EXPECT_EQ(done, 10u);
  EXPECT_EQ(vol.Write(kGeom.size(), data, done), std::errc::file_too_large);
  EXPECT_EQ(done, 0u);
}

TEST(Volume, ZeroRangeFreesWholeBlocksAndZeroesPartialOnes) {
  MemoryStore store(kGeom);
  Volume vol(store);
  auto data = test::RandomBytes(kGeom.size(), 4);
  std::size_t done = 0;
  ASSERT_FALSE(vol.Write(0, data, done));
  ASSERT_EQ(store.StoredBlocks(), 8u);
  ASSERT_FALSE(vol.ZeroRange(4096 + 10, 3 * 4096));  // part of 1, all of 2 and 3, part of 4
  EXPECT_EQ(store.StoredBlocks(), 6u);
  std::vector<std::uint8_t> back(kGeom.size());
  ASSERT_FALSE(vol.Read(0, back, done));
  for (std::uint64_t i = 0; i < kGeom.size(); ++i) {
    const bool zeroed = i >= 4096 + 10 && i < 4 * 4096 + 10;
    ASSERT_EQ(back[i], zeroed ? 0 : data[i]) << i;
  }
  // Zeroing the rest of block 1 and 4 frees them too.
  ASSERT_FALSE(vol.ZeroRange(4096, 10));
  ASSERT_FALSE(vol.ZeroRange(4 * 4096 + 10, 4096 - 10));
  EXPECT_EQ(store.StoredBlocks(), 4u);
}

TEST(Volume, ZeroRangeClipsAtEnd) {
  MemoryStore store(kGeom);
  Volume vol(store);
  EXPECT_FALSE(vol.ZeroRange(kGeom.size() - 4096, 1 << 20));
  EXPECT_FALSE(vol.ZeroRange(kGeom.size() + 5, 10));
}

// Counts the block operations running in it at each moment.
class InFlightStore : public ForwardingStore {
 public:
  explicit InFlightStore(std::unique_ptr<BlockStore> next) : ForwardingStore("in-flight", std::move(next)) {}
  std::atomic<int> in_flight{0};

 private:
  struct Count {
    explicit Count(std::atomic<int>& counter) : n(counter) { ++n; }
    ~Count() { --n; }
    std::atomic<int>& n;
  };
  std::error_code DoRead(BlockNum b, std::span<std::uint8_t> out, ObjectVersion* v) override {
    Count c(in_flight);
    return ForwardingStore::DoRead(b, out, v);
  }
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d, ObjectVersion* v) override {
    Count c(in_flight);
    return ForwardingStore::DoWrite(b, d, v);
  }
  std::error_code DoZero(BlockNum b) override {
    Count c(in_flight);
    return ForwardingStore::DoZero(b);
  }
};

// Every request passes the gate, ReadShared (the FUSE read path) too: one
// held in the store below counts as inside, and Exclusive() waits for it.
TEST(VolumeGate, ReadSharedHeldInTheStoreIsInsideAndExclusiveWaitsForIt) {
  auto gate_owned = std::make_unique<test::GateStore>(std::make_unique<MemoryStore>(kGeom));
  test::GateStore& gate = *gate_owned;
  InFlightStore store(std::move(gate_owned));
  Volume vol(store);
  gate.CloseReads();
  std::thread reader([&] {
    std::vector<BlockRef> pieces;
    EXPECT_FALSE(vol.ReadShared(0, 4096, pieces));
  });
  gate.WaitForReading(1);
  EXPECT_EQ(vol.requests_inside(), 1u);
  int in_flight_at_fn = -1;
  std::atomic<bool> resized{false};
  std::thread resizer([&] {
    EXPECT_FALSE(vol.Exclusive([&]() -> std::error_code {
      in_flight_at_fn = store.in_flight.load();
      return {};
    }));
    resized = true;
  });
  // Until the gate is closed (or, were it broken, Exclusive already ran).
  while (!vol.paused() && !resized) std::this_thread::yield();
  gate.OpenReads();
  reader.join();
  resizer.join();
  EXPECT_EQ(in_flight_at_fn, 0) << "Exclusive ran while the read was in the store";
  EXPECT_EQ(vol.requests_inside(), 0u);
  EXPECT_FALSE(vol.paused());
}

// Readers, writers and zeroers of every kind against repeated Exclusive()
// calls: no block operation ever runs while one is inside, and every
// request completes (a closed gate reopens for the ones held at it).
TEST(VolumeGate, NoBlockOperationRunsDuringExclusive) {
  InFlightStore store(std::make_unique<MemoryStore>(kGeom));
  Volume vol(store);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> by_kind[4] = {0, 0, 0, 0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      auto data = test::RandomBytes(6000, t);
      std::vector<std::uint8_t> back(6000);
      while (!stop) {
        std::size_t done = 0;
        std::vector<BlockRef> pieces;
        const std::uint64_t off = (requests.load() * 977) % (kGeom.size() - 6000);
        switch (t) {
          case 0: EXPECT_FALSE(vol.Write(off, data, done)); break;
          case 1: EXPECT_FALSE(vol.Read(off, back, done)); break;
          case 2: EXPECT_FALSE(vol.ReadShared(off, 6000, pieces)); break;
          default: EXPECT_FALSE(vol.ZeroRange(off, 6000)); break;
        }
        ++requests;
        ++by_kind[t];
      }
    });
  }
  // At least 300 pauses, and until every kind of request ran 200 times
  // (interleaved with them).
  auto all_ran = [&] {
    for (auto& n : by_kind)
      if (n.load() < 200) return false;
    return true;
  };
  int overlapped = 0;
  for (int i = 0; i < 300 || !all_ran(); ++i) {
    EXPECT_FALSE(vol.Exclusive([&]() -> std::error_code {
      if (store.in_flight.load() != 0) ++overlapped;
      return {};
    }));
  }
  stop = true;
  for (auto& w : workers) w.join();
  EXPECT_EQ(overlapped, 0);
  EXPECT_EQ(vol.requests_inside(), 0u);
}

}  // namespace
}  // namespace s3bd
