// FaultStore: the spec parser and that faults really stop the operation.
#include "s3bd/store/fault_store.h"

#include <gtest/gtest.h>

#include "s3bd/core/errors.h"
#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 16};

TEST(FaultSpec, Parse) {
  auto s = FaultSpec::Parse("write=0.25,flush=1,seed=9");
  EXPECT_EQ(s.write, 0.25);
  EXPECT_EQ(s.flush, 1.0);
  EXPECT_EQ(s.read, 0.0);
  EXPECT_EQ(s.seed, 9u);
  for (const char* bad : {"write", "write=2", "write=x", "bogus=0.5", "flush=1x", "seed=-"}) {
    EXPECT_THROW(FaultSpec::Parse(bad), StartupError) << bad;
  }
}

TEST(FaultStore, FailedWriteLeavesOldContent) {
  auto mem = std::make_unique<MemoryStore>(kGeom);
  MemoryStore* raw = mem.get();
  FaultStore faults(std::move(mem), {});
  auto a = test::RandomBytes(4096, 1), b = test::RandomBytes(4096, 2);
  ASSERT_FALSE(faults.Write(3, a));
  FaultSpec always;
  always.write = 1;
  always.flush = 1;
  faults.SetSpec(always);
  EXPECT_EQ(faults.Write(3, b), std::errc::io_error);
  EXPECT_EQ(faults.Flush(), std::errc::io_error);
  std::vector<std::uint8_t> out(4096);
  ASSERT_FALSE(raw->Read(3, out));
  EXPECT_EQ(out, a);
  EXPECT_EQ(faults.injected(), 2u);
}

TEST(FaultStore, RateIsRoughlyHonouredAndSeeded) {
  auto run = [](std::uint64_t seed) {
    FaultSpec spec;
    spec.read = 0.3;
    spec.seed = seed;
    FaultStore faults(std::make_unique<MemoryStore>(kGeom), spec);
    std::vector<std::uint8_t> out(4096);
    std::string pattern;
    for (int i = 0; i < 1000; ++i) pattern += faults.Read(0, out) ? 'x' : '.';
    return pattern;
  };
  const std::string p = run(5);
  const auto failures = std::count(p.begin(), p.end(), 'x');
  EXPECT_GT(failures, 200);
  EXPECT_LT(failures, 400);
  EXPECT_EQ(p, run(5));
  EXPECT_NE(p, run(6));
}

}  // namespace
}  // namespace s3bd
