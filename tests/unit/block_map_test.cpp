// The block map layer (include/s3bd/map/block_map.h): reads and zeros of
// blocks known absent cost no request below; a survey racing this mount's
// writes and zeros never leaves a block that holds data marked absent
// (seeded interleavings, and gated threads); a failed survey leaves every
// block to the store; read-only mounts get no map; a map saved in the cache
// file is loaded instead of a survey only when the lease vouches for it.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "gate_store.h"
#include "s3bd/cache/cache_file.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/stack.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/memory_store.h"
#include "s3bd/volume/fenced_store.h"
#include "s3bd/volume/lease.h"
#include "test_util.h"

namespace s3bd {
namespace {

using State = BlockMapStore::State;

constexpr Geometry kGeom{4096, 64};

// Operations of one kind a layer was sent.
std::uint64_t Ops(const BlockStore& s, const char* op) { return s.Stats()[0]["ops"][op]["ops"].get<std::uint64_t>(); }

std::vector<std::uint8_t> Zeros(const Geometry& g = kGeom) { return std::vector<std::uint8_t>(g.block_size, 0); }

// A map over a memory store whose blocks `written` hold data; `mem` is the
// memory store (owned by the map).
std::unique_ptr<BlockMapStore> MapOver(const std::set<BlockNum>& written, MemoryStore** mem, const Geometry& g = kGeom) {
  auto m = std::make_unique<MemoryStore>(g);
  for (BlockNum b : written) EXPECT_FALSE(m->Write(b, test::RandomBytes(g.block_size, b + 1)));
  *mem = m.get();
  return std::make_unique<BlockMapStore>(std::move(m));
}

TEST(BlockMap, AbsentReadsAndZerosCostNoRequest) {
  MemoryStore* mem = nullptr;
  auto map = MapOver({2, 40}, &mem);
  ASSERT_FALSE(map->RunSurvey());
  EXPECT_EQ(map->state(2), State::kPresent);
  EXPECT_EQ(map->state(3), State::kAbsent);
  const auto reads = Ops(*mem, "read"), zeros = Ops(*mem, "zero"), lists = Ops(*mem, "list");
  std::vector<std::uint8_t> buf(kGeom.block_size, 0xee);
  for (BlockNum b = 0; b < kGeom.num_blocks; ++b) {
    if (b == 2 || b == 40) continue;
    ASSERT_FALSE(map->Read(b, buf));
    ASSERT_EQ(buf, Zeros());
    std::vector<std::uint8_t> part(100, 0xee);
    ASSERT_FALSE(map->ReadPart(b, 10, part));
    ASSERT_EQ(part, std::vector<std::uint8_t>(100, 0));
    ASSERT_FALSE(map->Zero(b));
  }
  EXPECT_EQ(Ops(*mem, "read"), reads);
  EXPECT_EQ(Ops(*mem, "zero"), zeros);
  std::set<BlockNum> listed;
  ASSERT_FALSE(map->ListNonZero([&](BlockNum b) { listed.insert(b); }));
  EXPECT_EQ(listed, (std::set<BlockNum>{2, 40}));
  EXPECT_EQ(Ops(*mem, "list"), lists) << "answered from the map";

  // Present blocks still go down; a zero makes them absent after the store did it.
  ASSERT_FALSE(map->Read(2, buf));
  EXPECT_EQ(buf, test::RandomBytes(kGeom.block_size, 3));
  EXPECT_EQ(Ops(*mem, "read"), reads + 1);
  ASSERT_FALSE(map->Zero(2));
  EXPECT_EQ(Ops(*mem, "zero"), zeros + 1);
  EXPECT_EQ(map->state(2), State::kAbsent);
  ASSERT_FALSE(map->Zero(2));
  EXPECT_EQ(Ops(*mem, "zero"), zeros + 1);

  const StatsJson j = map->Stats()[0];
  EXPECT_EQ(j["layer"], "map");
  EXPECT_EQ(j["surveyed"], true);
  EXPECT_EQ(j["survey"], "done");
  EXPECT_EQ(j["surveyed_blocks"], kGeom.num_blocks);
  EXPECT_EQ(j["known_present"], 1u);
  EXPECT_EQ(j["known_absent"], kGeom.num_blocks - 1);
  EXPECT_EQ(j["unknown"], 0u);
  EXPECT_EQ(j["reads_saved"], 2 * (kGeom.num_blocks - 2));
  EXPECT_EQ(j["zeros_saved"], kGeom.num_blocks - 2 + 1);
}

// A fresh volume (an empty store surveyed first, as a mount of a store
// without volume metadata does): mkfs's discard of every block, and reads
// of blocks never written, send nothing; the store sees only the writes.
TEST(BlockMap, NewVolumeDiscardsAndReadsCostNothing) {
  const Geometry g{4096, 3 * BlockMapStore::kPageBlocks + 5};  // several pages, the last one short
  MemoryStore* mem = nullptr;
  auto map = MapOver({}, &mem, g);
  ASSERT_FALSE(map->RunSurvey());
  for (BlockNum b = 0; b < g.num_blocks; ++b) ASSERT_FALSE(map->Zero(b));
  std::vector<std::uint8_t> buf(g.block_size);
  for (BlockNum b = 0; b < g.num_blocks; b += 97) ASSERT_FALSE(map->Read(b, buf));
  ASSERT_FALSE(map->Read(g.num_blocks - 1, buf));
  EXPECT_EQ(Ops(*mem, "zero"), 0u);
  EXPECT_EQ(Ops(*mem, "read"), 0u);
  const auto data = test::RandomBytes(g.block_size, 7);
  ASSERT_FALSE(map->Write(g.num_blocks - 1, data));
  ASSERT_FALSE(map->Read(g.num_blocks - 1, buf));
  EXPECT_EQ(buf, data);
  EXPECT_EQ(Ops(*mem, "read"), 1u);
  const StatsJson j = map->Stats()[0];
  EXPECT_EQ(j["known_present"], 1u);
  EXPECT_EQ(j["known_absent"], g.num_blocks - 1);
  EXPECT_EQ(j["unknown"], 0u);
}

// Until the survey is done, blocks this mount has not touched go to the store.
TEST(BlockMap, UnsurveyedBlocksGoToTheStore) {
  MemoryStore* mem = nullptr;
  auto map = MapOver({5}, &mem);
  std::vector<std::uint8_t> buf(kGeom.block_size);
  ASSERT_FALSE(map->Read(6, buf));
  ASSERT_FALSE(map->Zero(6));
  EXPECT_EQ(Ops(*mem, "read"), 1u);
  EXPECT_EQ(Ops(*mem, "zero"), 1u);
  EXPECT_EQ(map->state(6), State::kAbsent) << "a zero the store acknowledged";
  ASSERT_FALSE(map->Read(5, buf));
  EXPECT_EQ(buf, test::RandomBytes(kGeom.block_size, 6));
  EXPECT_EQ(map->state(5), State::kUnknown) << "reads teach the map nothing";
  std::set<BlockNum> listed;
  ASSERT_FALSE(map->ListNonZero([&](BlockNum b) { listed.insert(b); }));
  EXPECT_EQ(listed, std::set<BlockNum>{5});
  EXPECT_EQ(Ops(*mem, "list"), 1u) << "asked the store";
  EXPECT_EQ(map->Stats()[0]["survey"], "not started");
}

// A layer whose listing fails, and whose writes and zeros fail on demand
// (before or after they reached the store below).
class FlakyStore : public ForwardingStore {
 public:
  explicit FlakyStore(std::unique_ptr<BlockStore> next) : ForwardingStore("flaky", std::move(next)) {}
  bool fail_list = false;
  enum class Fail { kNo, kBefore, kAfter } fail = Fail::kNo;

 private:
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override {
    if (fail_list) return std::make_error_code(std::errc::io_error);
    return ForwardingStore::DoListNonZero(fn);
  }
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d, ObjectVersion* v) override {
    if (fail == Fail::kBefore) return std::make_error_code(std::errc::io_error);
    auto ec = ForwardingStore::DoWrite(b, d, v);
    return fail == Fail::kAfter ? std::make_error_code(std::errc::timed_out) : ec;
  }
  std::error_code DoZero(BlockNum b) override {
    if (fail == Fail::kBefore) return std::make_error_code(std::errc::io_error);
    auto ec = ForwardingStore::DoZero(b);
    return fail == Fail::kAfter ? std::make_error_code(std::errc::timed_out) : ec;
  }
};

TEST(BlockMap, FailedSurveyLeavesBlocksToTheStore) {
  auto mem = std::make_unique<MemoryStore>(kGeom);
  ASSERT_FALSE(mem->Write(9, test::RandomBytes(kGeom.block_size, 1)));
  auto* mem_ptr = mem.get();
  auto flaky = std::make_unique<FlakyStore>(std::move(mem));
  flaky->fail_list = true;
  BlockMapStore map(std::move(flaky));
  EXPECT_TRUE(map.RunSurvey());
  EXPECT_EQ(map.survey(), BlockMapStore::Survey::kFailed);
  EXPECT_FALSE(map.RunSurvey()) << "one survey per layer";
  std::vector<std::uint8_t> buf(kGeom.block_size);
  ASSERT_FALSE(map.Read(9, buf));
  EXPECT_EQ(buf, test::RandomBytes(kGeom.block_size, 1));
  ASSERT_FALSE(map.Read(10, buf));
  EXPECT_EQ(Ops(*mem_ptr, "read"), 2u);
  EXPECT_EQ(map.state(10), State::kUnknown);
  EXPECT_EQ(map.Stats()[0]["surveyed"], false);
  EXPECT_EQ(map.Stats()[0]["unknown"], kGeom.num_blocks);
}

// A write that fails may have landed: its block is present (M1). A zero that
// fails may not have happened: its block keeps its state (M2).
TEST(BlockMap, FailedWritesArePresentFailedZerosChangeNothing) {
  auto mem = std::make_unique<MemoryStore>(kGeom);
  auto* mem_ptr = mem.get();
  auto flaky_owned = std::make_unique<FlakyStore>(std::move(mem));
  auto* flaky = flaky_owned.get();
  BlockMapStore map(std::move(flaky_owned));
  ASSERT_FALSE(map.RunSurvey());
  const auto data = test::RandomBytes(kGeom.block_size, 3);
  flaky->fail = FlakyStore::Fail::kAfter;  // landed, but reported failed
  EXPECT_TRUE(map.Write(1, data));
  flaky->fail = FlakyStore::Fail::kBefore;
  EXPECT_TRUE(map.Write(2, data));
  EXPECT_EQ(map.state(1), State::kPresent);
  EXPECT_EQ(map.state(2), State::kPresent);
  EXPECT_TRUE(map.Zero(1));
  EXPECT_EQ(map.state(1), State::kPresent);
  flaky->fail = FlakyStore::Fail::kNo;
  std::vector<std::uint8_t> buf(kGeom.block_size);
  ASSERT_FALSE(map.Read(1, buf));
  EXPECT_EQ(buf, data) << "the landed write is read from the store";
  ASSERT_FALSE(map.Read(2, buf));
  EXPECT_EQ(buf, Zeros());
  EXPECT_EQ(mem_ptr->StoredBlocks(), 1u);
}

// Gated threads: a write held between the map and the store while the
// survey lists (the listing cannot see it) ends present; a zero held there
// while the survey lists (the listing sees the old object) ends absent.
TEST(BlockMap, WriteAndZeroInFlightDuringTheSurvey) {
  auto mem = std::make_unique<MemoryStore>(kGeom);
  ASSERT_FALSE(mem->Write(7, test::RandomBytes(kGeom.block_size, 1)));
  auto gate_owned = std::make_unique<test::GateStore>(std::move(mem));
  auto* gate = gate_owned.get();
  BlockMapStore map(std::move(gate_owned));
  const auto data = test::RandomBytes(kGeom.block_size, 2);
  gate->Close();
  std::thread writer([&] { EXPECT_FALSE(map.Write(3, data)); });
  std::thread zeroer([&] { EXPECT_FALSE(map.Zero(7)); });
  gate->WaitForWaiting(2);
  ASSERT_FALSE(map.RunSurvey());  // lists {7}
  EXPECT_EQ(map.state(3), State::kPresent) << "marked before the write went down";
  EXPECT_EQ(map.state(7), State::kPresent) << "listed; the zero is not done yet";
  gate->Open();
  writer.join();
  zeroer.join();
  EXPECT_EQ(map.state(3), State::kPresent);
  EXPECT_EQ(map.state(7), State::kAbsent);
  std::vector<std::uint8_t> buf(kGeom.block_size);
  ASSERT_FALSE(map.Read(3, buf));
  EXPECT_EQ(buf, data);
  std::set<BlockNum> listed;
  ASSERT_FALSE(map.ListNonZero([&](BlockNum b) { listed.insert(b); }));
  EXPECT_EQ(listed, std::set<BlockNum>{3});
}

// Seeded interleavings of a survey with this mount's writes and zeros. The
// layer under the map lists block by block in a random order, and between
// two blocks it lets the test run random writes and zeros through the map;
// those in turn let the listing go on for a few blocks before and after
// they reach the store, and sometimes fail (having landed or not). After the
// survey, no block that holds data may be ABSENT, and every read through
// the map equals the store's content.
class InterleavingStore : public ForwardingStore {
 public:
  InterleavingStore(std::unique_ptr<MemoryStore> next, std::uint64_t seed)
      : ForwardingStore("interleave", std::move(next)), rng_(seed) {
    mem_ = static_cast<MemoryStore*>(&this->next());
  }
  BlockMapStore* map = nullptr;  // the layer above, for the random operations
  std::mt19937_64& rng() { return rng_; }

 private:
  // One step of the listing: observe the next block of the order, now.
  void Observe() {
    if (pos_ >= order_.size()) return;
    const BlockNum b = order_[pos_++];
    if (!mem_->memory().ObjectBytes(b).empty()) seen_.push_back(b);
  }
  void Steps() {
    for (int i = static_cast<int>(rng_() % 3); i > 0; --i) Observe();
  }
  std::error_code Outcome(std::error_code ec) {
    if (!listing_) return ec;
    return rng_() % 8 == 0 ? std::make_error_code(std::errc::timed_out) : ec;
  }
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d, ObjectVersion* v) override {
    if (listing_) Steps();
    if (listing_ && rng_() % 8 == 0) return std::make_error_code(std::errc::io_error);  // did not land
    auto ec = ForwardingStore::DoWrite(b, d, v);
    if (listing_) Steps();
    return Outcome(ec);
  }
  std::error_code DoZero(BlockNum b) override {
    if (listing_) Steps();
    if (listing_ && rng_() % 8 == 0) return std::make_error_code(std::errc::io_error);
    auto ec = ForwardingStore::DoZero(b);
    if (listing_) Steps();
    return Outcome(ec);
  }
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override {
    order_.resize(geometry().num_blocks);
    for (BlockNum b = 0; b < order_.size(); ++b) order_[b] = b;
    std::shuffle(order_.begin(), order_.end(), rng_);
    listing_ = true;
    while (pos_ < order_.size()) {
      if (rng_() % 2) {
        Observe();
        continue;
      }
      const BlockNum b = rng_() % geometry().num_blocks;
      if (rng_() % 2) {
        (void)map->Write(b, test::RandomBytes(geometry().block_size, rng_()));
      } else {
        (void)map->Zero(b);
      }
    }
    listing_ = false;
    for (BlockNum b : seen_) fn(b);  // as S3 does: once every range is listed
    return {};
  }

  MemoryStore* mem_;
  std::mt19937_64 rng_;
  std::vector<BlockNum> order_, seen_;
  std::size_t pos_ = 0;
  bool listing_ = false;
};

TEST(BlockMap, SurveyRacingWritesAndZerosNeverHidesData) {
  const Geometry g{4096, 48};
  const int seeds = std::getenv("S3BD_SEED") ? 1 : 400;
  for (int i = 0; i < seeds; ++i) {
    const std::uint64_t seed = std::getenv("S3BD_SEED") ? std::strtoull(std::getenv("S3BD_SEED"), nullptr, 0) : i;
    SCOPED_TRACE("S3BD_SEED=" + std::to_string(seed));
    auto mem_owned = std::make_unique<MemoryStore>(g);
    MemoryStore* mem = mem_owned.get();
    std::mt19937_64 rng(seed);
    for (BlockNum b = 0; b < g.num_blocks; ++b) {
      if (rng() % 2) {
        ASSERT_FALSE(mem->Write(b, test::RandomBytes(g.block_size, rng())));
      }
    }
    auto inter_owned = std::make_unique<InterleavingStore>(std::move(mem_owned), rng());
    auto* inter = inter_owned.get();
    BlockMapStore map(std::move(inter_owned));
    inter->map = &map;
    // Some operations before the survey starts.
    for (int k = 0; k < 8; ++k) {
      const BlockNum b = rng() % g.num_blocks;
      if (rng() % 2) {
        ASSERT_FALSE(map.Write(b, test::RandomBytes(g.block_size, rng())));
      } else {
        ASSERT_FALSE(map.Zero(b));
      }
    }
    ASSERT_FALSE(map.RunSurvey());
    std::vector<std::uint8_t> got(g.block_size), want(g.block_size);
    for (BlockNum b = 0; b < g.num_blocks; ++b) {
      const bool holds = !mem->memory().ObjectBytes(b).empty();
      ASSERT_NE(map.state(b), State::kUnknown) << "block " << b;
      if (holds) {
        ASSERT_EQ(map.state(b), State::kPresent) << "block " << b << " holds data";
      }
      ASSERT_FALSE(map.Read(b, got));
      ASSERT_FALSE(mem->Read(b, want));
      ASSERT_EQ(got, want) << "block " << b;
    }
    const StatsJson j = map.Stats()[0];
    ASSERT_EQ(j["known_present"].get<std::uint64_t>() + j["known_absent"].get<std::uint64_t>(), g.num_blocks);
  }
}

// The same race with real threads: writers and zeroers over the whole volume
// while the survey runs in the background; afterwards no block holding data
// is ABSENT. (Run under TSan by scripts/test.sh.)
TEST(BlockMap, BackgroundSurveyWithConcurrentWriters) {
  const Geometry g{4096, 2 * BlockMapStore::kPageBlocks};
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto mem_owned = std::make_unique<MemoryStore>(g);
    MemoryStore* mem = mem_owned.get();
    std::mt19937_64 rng(round);
    for (int k = 0; k < 200; ++k) ASSERT_FALSE(mem->Write(rng() % g.num_blocks, test::RandomBytes(g.block_size, k)));
    BlockMapStore map(std::move(mem_owned));
    std::vector<std::thread> threads;
    // Each thread owns the blocks b with b % 4 == t (writes of one block are serialised).
    for (unsigned t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 r(round * 10 + t);
        const auto data = test::RandomBytes(g.block_size, t + 1);
        for (int k = 0; k < 300; ++k) {
          const BlockNum b = (r() % (g.num_blocks / 4)) * 4 + t;
          if (r() % 2) {
            EXPECT_FALSE(map.Write(b, data));
          } else {
            EXPECT_FALSE(map.Zero(b));
          }
        }
      });
    }
    map.StartSurvey();
    for (auto& th : threads) th.join();
    map.WaitForSurvey();
    ASSERT_EQ(map.survey(), BlockMapStore::Survey::kDone);
    std::set<BlockNum> stored;
    ASSERT_FALSE(mem->ListNonZero([&](BlockNum b) { stored.insert(b); }));
    for (BlockNum b : stored) ASSERT_EQ(map.state(b), State::kPresent) << "block " << b << " holds data";
    std::set<BlockNum> listed;
    ASSERT_FALSE(map.ListNonZero([&](BlockNum b) { listed.insert(b); }));
    EXPECT_EQ(listed, stored);
  }
}

// A read-only mount gets no map (a writer elsewhere may add blocks); a
// read-write mount gets one, surveyed in the background for an existing
// volume and before the mount for a store without volume metadata.
TEST(BlockMap, OnlyReadWriteMountsHaveAMap) {
  test::TempDir dir;
  StoreConfig config;
  config.url = dir.path();
  ResolveStoreUrl(config);
  config.size = 64 * 4096;
  config.block_size = 4096;
  {
    Stack stack = BuildStack(config);
    ASSERT_NE(stack.map, nullptr);
    EXPECT_EQ(stack.survey, Stack::Survey::kFirst);
    SurveyBlocksFirst(stack);
    EXPECT_EQ(stack.map->survey(), BlockMapStore::Survey::kDone);
    CommitGeometry(stack);
  }
  {
    Stack stack = BuildStack(config);
    ASSERT_NE(stack.map, nullptr);
    EXPECT_EQ(stack.survey, Stack::Survey::kBackground);
  }
  config.read_only = true;
  config.size.reset();
  config.block_size.reset();
  Stack stack = BuildStack(config);
  EXPECT_EQ(stack.map, nullptr);
  for (const auto& layer : stack.top->Stats()) EXPECT_NE(layer["layer"], "map");
}

// A map loaded from a saved copy (S2) answers like a surveyed one without
// listing the store; a load that fails changes nothing.
TEST(BlockMap, LoadedMapAnswersWithoutASurvey) {
  MemoryStore* mem = nullptr;
  auto map = MapOver({2, 40}, &mem);
  const auto lists = Ops(*mem, "list"), reads = Ops(*mem, "read");
  std::vector<BlockNum> present;
  const auto collect = [&](BlockNum b) { present.push_back(b); };
  EXPECT_FALSE(map->ForEachPresent(collect)) << "incomplete before a survey";
  EXPECT_TRUE(present.empty());

  EXPECT_EQ(map->Load([](const std::function<void(BlockNum)>& fn) {
    fn(7);
    return make_error_code(Errc::kBadMetadata);
  }),
            make_error_code(Errc::kBadMetadata));
  EXPECT_EQ(map->survey(), BlockMapStore::Survey::kNotStarted);
  EXPECT_EQ(map->source(), BlockMapStore::Source::kNone);
  EXPECT_EQ(map->state(7), State::kUnknown) << "a failed load applies nothing";

  ASSERT_FALSE(map->Load([](const std::function<void(BlockNum)>& fn) {
    fn(40);
    fn(2);
    fn(1000);  // past the end: ignored, as in a survey
    return std::error_code();
  }));
  EXPECT_EQ(map->survey(), BlockMapStore::Survey::kDone);
  EXPECT_EQ(map->source(), BlockMapStore::Source::kCacheFile);
  EXPECT_EQ(map->state(2), State::kPresent);
  EXPECT_EQ(map->state(3), State::kAbsent);
  std::vector<std::uint8_t> buf(kGeom.block_size);
  ASSERT_FALSE(map->Read(3, buf));
  EXPECT_EQ(buf, Zeros());
  ASSERT_FALSE(map->Read(2, buf));
  EXPECT_EQ(buf, test::RandomBytes(kGeom.block_size, 3));
  EXPECT_EQ(Ops(*mem, "read"), reads + 1) << "only the present block was read";
  // No survey follows, in either form.
  EXPECT_FALSE(map->RunSurvey());
  map->StartSurvey();
  map->WaitForSurvey();
  EXPECT_EQ(Ops(*mem, "list"), lists);
  EXPECT_EQ(map->Load([](const std::function<void(BlockNum)>&) { return std::error_code(); }),
            std::make_error_code(std::errc::operation_in_progress));

  ASSERT_FALSE(map->Write(5, test::RandomBytes(kGeom.block_size, 9)));
  ASSERT_FALSE(map->Zero(2));
  ASSERT_TRUE(map->ForEachPresent(collect));
  EXPECT_EQ(present, (std::vector<BlockNum>{5, 40}));
  EXPECT_EQ(map->Stats()[0]["source"], "cache-file");
}

// The composition root's glue (stack.h: UseSavedMap, SaveMap) with a real
// cache file and lease, on a directory store: a remount with the cache file
// uses the map its clean unmount saved and lists nothing; after a mount
// without that cache file, or one that died, even a cache file restored
// with a map in it is not trusted, and the survey finds what was written.
TEST(BlockMap, SavedMapIsUsedOnlyAfterItsOwnCleanUnmount) {
  test::TempDir dir;
  const std::string cache = dir.path() + "/cache";
  ASSERT_EQ(::mkdir((dir.path() + "/store").c_str(), 0700), 0);
  StoreConfig config;
  config.url = dir.path() + "/store";
  ResolveStoreUrl(config);
  config.size = 64 * 4096;
  config.block_size = 4096;
  config.fenced = true;
  config.cache.cache_size = 16 * 4096;
  config.cache.write_delay = std::chrono::milliseconds(0);

  struct Mount {
    Stack stack;
    std::unique_ptr<Lease> lease;
  };
  // As mount_command.cpp does it, up to the mount going live.
  // s3backer's mount token on an s3backer volume, as far as the map cares.
  struct ForeignFlag : ForeignMountFlag {
    std::error_code Check(bool* foreign, std::string*) override {
      *foreign = false;
      return {};
    }
    std::error_code Set(const std::string&) override { return {}; }
    std::error_code Clear() override { return {}; }
    std::string HowToClear() const override { return ""; }
  };
  const auto mount = [&](bool with_file, bool foreign = false) {
    StoreConfig c = config;
    if (with_file) c.cache.cache_file = cache;
    Mount m{BuildStack(c), nullptr};
    if (foreign) m.stack.foreign_flag = std::make_shared<ForeignFlag>();
    LeaseOptions o = DefaultLeaseOptions();
    o.url = c.url;
    o.cache_file_id = m.stack.cache_file_id;
    o.cache_file = m.stack.cache_file;
    o.exclusive_already = true;
    m.lease = std::make_unique<Lease>(m.stack.meta, o);
    m.lease->Acquire();
    UseSavedMap(m.stack, *m.lease);
    m.stack.fence->Open();
    SurveyBlocksFirst(m.stack);
    CommitGeometry(m.stack);
    return m;
  };
  const auto unmount = [](Mount& m) {
    ASSERT_FALSE(m.lease->MarkFlushing());
    ASSERT_FALSE(m.stack.top->Flush(FlushLevel::kStore));
    ASSERT_FALSE(m.lease->Release(SaveMap(m.stack, *m.lease)));
  };
  const auto bottom_ops = [](const Stack& s, const char* op) {
    const auto layers = s.top->Stats();
    return layers.back()["ops"][op]["ops"].get<std::uint64_t>();
  };
  const auto data = [](BlockNum b) { return test::RandomBytes(4096, b + 100); };
  std::vector<std::uint8_t> buf(4096);

  {
    Mount m = mount(true);  // a new volume: surveyed (empty) before it goes live
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kSurvey);
    ASSERT_FALSE(m.stack.top->Write(3, data(3)));
    unmount(m);
  }
  {
    Mount m = mount(true);
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kCacheFile);
    EXPECT_EQ(m.stack.map->survey(), BlockMapStore::Survey::kDone);
    EXPECT_EQ(m.stack.file->saved_map_stamp(), "") << "forgotten before the mount can change anything (S4)";
    EXPECT_EQ(bottom_ops(m.stack, "list"), 0u) << "no survey";
    EXPECT_EQ(m.stack.map->state(3), State::kPresent);
    ASSERT_FALSE(m.stack.top->Read(4, buf));
    EXPECT_EQ(buf, Zeros());
    EXPECT_EQ(bottom_ops(m.stack, "read"), 0u) << "a never-written block costs no read";
    ASSERT_FALSE(m.stack.top->Read(3, buf));
    EXPECT_EQ(buf, data(3));
    unmount(m);
  }
  std::filesystem::copy_file(cache, dir.path() + "/cache.saved");
  {
    Mount m = mount(false);  // another mount, without the cache file, writes
    ASSERT_FALSE(m.stack.top->Write(10, data(10)));
    unmount(m);
  }
  {
    Mount m = mount(true);
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kNone) << "not trusted: surveyed as without it";
    EXPECT_EQ(m.stack.map->survey(), BlockMapStore::Survey::kNotStarted);
    ASSERT_FALSE(m.stack.map->RunSurvey());
    EXPECT_EQ(m.stack.map->state(10), State::kPresent);
    ASSERT_FALSE(m.stack.top->Read(10, buf));
    EXPECT_EQ(buf, data(10));
    unmount(m);
  }
  {
    Mount m = mount(true);  // trusted again; then it dies after a write
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kCacheFile);
    ASSERT_FALSE(m.stack.top->Write(20, data(20)));
    ASSERT_FALSE(m.stack.top->Flush(FlushLevel::kStore));
  }
  // Even the cache file as it was before (with a saved map in it) is not
  // trusted: the lease names the mount that died, not the one that saved.
  std::filesystem::copy_file(dir.path() + "/cache.saved", cache, std::filesystem::copy_options::overwrite_existing);
  {
    Mount m = mount(true);
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kNone);
    ASSERT_FALSE(m.stack.map->RunSurvey());
    EXPECT_EQ(m.stack.map->state(20), State::kPresent);
    ASSERT_FALSE(m.stack.top->Read(20, buf));
    EXPECT_EQ(buf, data(20));
    unmount(m);
  }
  // S6: on an s3backer volume (s3backer's token beside the lease) a saved
  // map is not trusted, and none is saved.
  {
    Mount m = mount(true, /*foreign=*/true);
    EXPECT_EQ(m.stack.map->source(), BlockMapStore::Source::kNone) << "S6: not trusted";
    ASSERT_FALSE(m.stack.map->RunSurvey());
    EXPECT_FALSE(SaveMap(m.stack, *m.lease)) << "S6: not saved";
    EXPECT_EQ(m.stack.file->saved_map_stamp(), "");
    ASSERT_FALSE(m.lease->Release(false));
  }
}

}  // namespace
}  // namespace s3bd
