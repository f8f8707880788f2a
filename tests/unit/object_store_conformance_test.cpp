// The ObjectStore contract (include/s3bd/core/object_store.h), checked for
// every object store: absent objects, round trips of bodies of any length
// with metadata pairs, overwrite, delete, list, too-small buffers, version
// tags and GetIfChanged, refused metadata, atomicity against concurrent Gets,
// argument checks. A new object store adds one entry to kObjectStores.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "s3bd/core/errors.h"
#include "s3bd/core/object_store.h"
#include "s3bd/store/directory_store.h"
#include "s3bd/store/memory_store.h"
#include "s3_test_support.h"
#include "test_util.h"

namespace s3bd {
namespace {

constexpr Geometry kGeom{4096, 64};
constexpr std::size_t kBs = kGeom.block_size;
// Room for every object these tests store.
constexpr std::size_t kBigBuffer = 2 * kBs;

struct ObjectStoreFactory {
  const char* name;
  std::function<std::unique_ptr<ObjectStore>(const std::string& dir)> make;
};

const ObjectStoreFactory kObjectStores[] = {
    {"memory", [](const std::string&) { return std::make_unique<MemoryObjectStore>(kGeom); }},
    {"directory",
     [](const std::string& dir) { return std::make_unique<DirectoryStore>(Directory::Open(dir, false), kGeom); }},
#ifdef S3BD_HAVE_TEST_S3SERVER
    // Over HTTP to the in-process test S3 server, each under a fresh prefix.
    {"s3", [](const std::string&) -> std::unique_ptr<ObjectStore> { return test::MakeTestS3Objects(kGeom, false); }},
    {"s3_hash_prefix",
     [](const std::string&) -> std::unique_ptr<ObjectStore> {
       return test::MakeTestS3Objects(kGeom, /*hash_prefix=*/true);
     }},
#endif
};

using Bytes = std::vector<std::uint8_t>;

ObjectMeta Meta(std::vector<std::pair<std::string, std::string>> pairs) {
  ObjectMeta m;
  m.pairs = std::move(pairs);
  return m;
}

// Metadata as a set: the contract keeps names and values, not their order
// (S3 returns the pairs sorted by name).
std::vector<std::pair<std::string, std::string>> Sorted(const ObjectMeta& m) {
  auto p = m.pairs;
  std::sort(p.begin(), p.end());
  return p;
}

// Metadata sets the round trips use: none, one, several (with the
// Content-Encoding pair, and values with punctuation and inner blanks).
// (Not content-encoding "gzip" or "deflate": the test server's HTTP library
// would decompress such a PUT body.)
std::vector<ObjectMeta> MetaSets() {
  return {
      Meta({}),
      Meta({{"s3bd-encoding", "zstd"}}),
      Meta({{"s3bd-encoding", "aes-256-gcm-v1"},
            {"content-encoding", "x-s3bd-test"},
            {"a", "b"},
            {"k-9", "v=1;w,2 (x) \"y\" 'z' ~!@#$%^&*_+[]{}|\\:<>?/`"},
            {"inner-blanks", "one  two   three"}}),
  };
}

std::string Describe(std::size_t len, const ObjectMeta& meta) {
  std::string s = "body of " + std::to_string(len) + " bytes, meta {";
  for (const auto& [n, v] : meta.pairs) s += n + ":" + v + ";";
  return s + "}";
}

void PrintTo(const ObjectStoreFactory& f, std::ostream* os) { *os << f.name; }

class ObjectStoreConformance : public ::testing::TestWithParam<ObjectStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  bool IsS3() const { return std::string(GetParam().name).rfind("s3", 0) == 0; }

  struct Got {
    std::error_code ec;
    bool found = false;
    Bytes body;
    ObjectMeta meta;
    ObjectVersion version;
  };
  Got Get(BlockNum b, std::size_t buffer = kBigBuffer) {
    Got g;
    Bytes buf(buffer, 0x5A);
    std::size_t size = 12345;
    g.meta = Meta({{"stale", "pair"}});  // must be cleared
    g.version.known = true;              // must be reset
    g.ec = store_->Get(b, buf, &size, &g.found, &g.meta, &g.version);
    if (!g.ec && g.found) {
      EXPECT_LE(size, buffer);
      g.body.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(std::min(size, buffer)));
    } else if (!g.ec) {
      EXPECT_EQ(size, 0u);
    }
    return g;
  }
  ObjectVersion Put(BlockNum b, const Bytes& body, const ObjectMeta& meta = {}) {
    ObjectVersion v;
    EXPECT_FALSE(store_->Put(b, body, meta, &v)) << Describe(body.size(), meta);
    return v;
  }
  std::set<BlockNum> Listed() {
    std::set<BlockNum> s;
    EXPECT_FALSE(store_->List([&](BlockNum b) { s.insert(b); }));
    return s;
  }
  // Bytes the S3 client received so far (0 for other stores).
  std::uint64_t BytesReceived() const {
    const StatsJson j = store_->Stats();
    return j.contains("bytes_received") ? j["bytes_received"].get<std::uint64_t>() : 0;
  }

  test::TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreConformance, AbsentObjectIsNotFound) {
  Got g = Get(7);
  EXPECT_FALSE(g.ec) << g.ec.message();
  EXPECT_FALSE(g.found);
  EXPECT_TRUE(g.meta.empty());
  EXPECT_FALSE(g.version.known);
  EXPECT_TRUE(Listed().empty());
}

TEST_P(ObjectStoreConformance, RoundTripOfAnyLengthWithMetadata) {
  // Around the block size (where the directory store decides between a bare
  // file and a trailer), and longer and shorter than a block.
  const std::size_t lengths[] = {0, 1, kBs - 1, kBs, kBs + 42, kBs - 12, kBs - 16, kBs - 40};
  const auto metas = MetaSets();
  BlockNum b = 0;
  std::set<BlockNum> written;
  for (std::size_t len : lengths) {
    for (const ObjectMeta& meta : metas) {
      SCOPED_TRACE(Describe(len, meta) + " at block " + std::to_string(b));
      const Bytes body = test::RandomBytes(len, 100 + b);
      Put(b, body, meta);
      written.insert(b);
      Got g = Get(b);
      ASSERT_FALSE(g.ec) << g.ec.message();
      ASSERT_TRUE(g.found);
      EXPECT_EQ(g.body, body);
      EXPECT_EQ(Sorted(g.meta), Sorted(meta));
      ++b;
    }
  }
  // Each still holds its own object once all are written.
  b = 0;
  for (std::size_t len : lengths) {
    for (const ObjectMeta& meta : metas) {
      Got g = Get(b);
      ASSERT_FALSE(g.ec);
      EXPECT_EQ(g.body, test::RandomBytes(len, 100 + b)) << "block " << b;
      EXPECT_EQ(Sorted(g.meta), Sorted(meta)) << "block " << b;
      ++b;
    }
  }
  EXPECT_EQ(Listed(), written);
  EXPECT_FALSE(store_->Flush());
}

TEST_P(ObjectStoreConformance, OverwriteReplacesBodyAndMetadata) {
  const Bytes a = test::RandomBytes(kBs + 42, 1), b = test::RandomBytes(kBs, 2), c = test::RandomBytes(1, 3);
  const ObjectMeta with = Meta({{"s3bd-encoding", "zstd"}, {"content-encoding", "x-s3bd-test"}});
  Put(4, a, with);
  Put(4, b);  // the old pair must not survive
  Got g = Get(4);
  ASSERT_FALSE(g.ec);
  ASSERT_TRUE(g.found);
  EXPECT_EQ(g.body, b);
  EXPECT_TRUE(g.meta.empty()) << g.meta.pairs.size() << " pairs left over";
  Put(4, c, with);  // and back: a short body with pairs
  g = Get(4);
  ASSERT_FALSE(g.ec);
  EXPECT_EQ(g.body, c);
  EXPECT_EQ(Sorted(g.meta), Sorted(with));
  const ObjectMeta other = Meta({{"s3bd-encoding", "deflate"}});
  Put(4, c, other);  // the same body with other pairs
  g = Get(4);
  ASSERT_FALSE(g.ec);
  EXPECT_EQ(g.body, c);
  EXPECT_EQ(Sorted(g.meta), Sorted(other));
  EXPECT_EQ(Listed(), (std::set<BlockNum>{4}));
}

TEST_P(ObjectStoreConformance, DeleteMakesAbsent) {
  Put(5, test::RandomBytes(kBs, 5), Meta({{"a", "b"}}));
  Put(6, test::RandomBytes(10, 6));
  ASSERT_FALSE(store_->Delete(5));
  Got g = Get(5);
  EXPECT_FALSE(g.ec);
  EXPECT_FALSE(g.found);
  EXPECT_TRUE(g.meta.empty());
  EXPECT_FALSE(g.version.known);
  EXPECT_EQ(Listed(), (std::set<BlockNum>{6}));
  EXPECT_FALSE(store_->Delete(5));   // again
  EXPECT_FALSE(store_->Delete(63));  // never stored
  EXPECT_TRUE(Get(6).found);
  ASSERT_FALSE(store_->Delete(6));
  EXPECT_TRUE(Listed().empty());
  EXPECT_FALSE(store_->Flush());
}

TEST_P(ObjectStoreConformance, ListReportsExactlyThePresentObjects) {
  const std::set<BlockNum> blocks = {0, 1, 17, 31, 32, 62, 63};
  for (BlockNum b : blocks) Put(b, test::RandomBytes(b + 1, b), b % 2 ? Meta({{"a", "b"}}) : Meta({}));
  EXPECT_EQ(Listed(), blocks);
  ASSERT_FALSE(store_->Delete(17));
  ASSERT_FALSE(store_->Delete(63));
  EXPECT_EQ(Listed(), (std::set<BlockNum>{0, 1, 31, 32, 62}));
}

TEST_P(ObjectStoreConformance, TooSmallBufferIsBadBlockSizeAndNeverOverrun) {
  struct Case {
    std::size_t len;
    ObjectMeta meta;
  };
  const Case cases[] = {{kBs, {}}, {kBs + 42, Meta({{"s3bd-encoding", "zstd"}})}, {100, Meta({{"a", "b"}})}};
  BlockNum b = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(Describe(c.len, c.meta));
    const Bytes body = test::RandomBytes(c.len, 40 + b);
    Put(b, body, c.meta);
    // A buffer of exactly one byte less, on the heap with nothing after it
    // (an overrun is an AddressSanitizer report).
    {
      auto exact = std::make_unique<std::uint8_t[]>(c.len - 1);
      std::size_t size = 0;
      bool found = false;
      ObjectMeta meta;
      EXPECT_EQ(store_->Get(b, {exact.get(), c.len - 1}, &size, &found, &meta, nullptr), Errc::kBadBlockSize);
    }
    // The same within a larger allocation: the bytes past the span stay.
    {
      Bytes guarded(c.len - 1 + 256, 0xC3);
      std::size_t size = 0;
      bool found = false;
      EXPECT_EQ(store_->Get(b, std::span(guarded).first(c.len - 1), &size, &found, nullptr, nullptr),
                Errc::kBadBlockSize);
      EXPECT_TRUE(std::all_of(guarded.begin() + static_cast<std::ptrdiff_t>(c.len - 1), guarded.end(),
                              [](std::uint8_t x) { return x == 0xC3; }))
          << "Get wrote past the end of its buffer";
    }
    // A buffer of exactly the object's length is enough.
    Got g = Get(b, c.len);
    ASSERT_FALSE(g.ec) << g.ec.message();
    EXPECT_EQ(g.body, body);
    EXPECT_EQ(Sorted(g.meta), Sorted(c.meta));
    ++b;
  }
  // An empty object fits an empty buffer; one byte does not.
  Put(b, {}, Meta({{"a", "b"}}));
  Got g = Get(b, 0);
  ASSERT_FALSE(g.ec) << g.ec.message();
  EXPECT_TRUE(g.found);
  EXPECT_TRUE(g.body.empty());
  EXPECT_EQ(Sorted(g.meta), Sorted(Meta({{"a", "b"}})));
  Put(b + 1, Bytes(1, 7));
  EXPECT_EQ(Get(b + 1, 0).ec, Errc::kBadBlockSize);
}

TEST_P(ObjectStoreConformance, VersionTags) {
  const Bytes a = test::RandomBytes(kBs, 10), b = test::RandomBytes(kBs - 100, 11);
  const ObjectVersion v1 = Put(9, a);
  ASSERT_TRUE(v1.known) << "every store here names its versions";
  Got g = Get(9);
  ASSERT_FALSE(g.ec);
  EXPECT_EQ(g.version, v1);
  EXPECT_EQ(Get(9).version, v1);  // no Put between: the same version

  const ObjectVersion v2 = Put(9, b, Meta({{"s3bd-encoding", "zstd"}}));
  ASSERT_TRUE(v2.known);
  EXPECT_NE(v2, v1);
  g = Get(9);
  EXPECT_EQ(g.version, v2);
  EXPECT_EQ(g.body, b);

  // Another block with the same content as the first: versions name
  // objects, not blocks, so it may or may not equal v1; only its own Gets
  // must agree with its Put.
  const ObjectVersion v3 = Put(10, a);
  EXPECT_EQ(Get(10).version, v3);
  EXPECT_EQ(Get(9).version, v2);
}

// Same version means same object: a Put of the same body with other
// metadata (the codec would decode it differently) must change the version,
// or GetIfChanged would call a changed object unchanged. Not so on S3, whose
// version is the ETag, the MD5 of the body alone (object_store.h); the codec
// never stores one body under two encodings, so it does not matter there.
TEST_P(ObjectStoreConformance, VersionChangesWithMetadataAlone) {
  if (IsS3()) GTEST_SKIP() << "S3 versions (ETags) cover the body only";
  const Bytes a = test::RandomBytes(kBs - 100, 30);
  const ObjectVersion v1 = Put(14, a, Meta({{"s3bd-encoding", "zstd"}}));
  const ObjectMeta other = Meta({{"s3bd-encoding", "deflate"}});
  const ObjectVersion v2 = Put(14, a, other);
  EXPECT_NE(v1, v2);
  Bytes buf(kBigBuffer);
  std::size_t size = 0;
  bool found = false, changed = false;
  ObjectMeta meta;
  ASSERT_FALSE(store_->GetIfChanged(14, v1, buf, &size, &found, &meta, nullptr, &changed));
  EXPECT_TRUE(changed) << "an object with other metadata was reported unchanged";
  if (changed) {
    EXPECT_EQ(Sorted(meta), Sorted(other));
  }
}

TEST_P(ObjectStoreConformance, GetIfChangedCurrentVersionMovesNoData) {
  const Bytes a = test::RandomBytes(kBs, 12);
  const ObjectVersion v = Put(11, a, Meta({{"a", "b"}}));
  ASSERT_TRUE(v.known);
  const std::uint64_t before = BytesReceived();
  Bytes buf(kBigBuffer, 0x5A);
  std::size_t size = 0;
  bool found = false, changed = true;
  ObjectMeta meta;
  ObjectVersion now;
  ASSERT_FALSE(store_->GetIfChanged(11, v, buf, &size, &found, &meta, &now, &changed));
  EXPECT_FALSE(changed);
  if (IsS3()) {
    // A conditional GET answered 304: no body travelled, the buffer is as it was.
    EXPECT_LT(BytesReceived() - before, 64u) << "the unchanged object was downloaded";
    EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](std::uint8_t x) { return x == 0x5A; }));
  }
}

TEST_P(ObjectStoreConformance, GetIfChangedOldVersionGetsTheNewObject) {
  const Bytes a = test::RandomBytes(kBs, 13), b = test::RandomBytes(kBs + 42, 14);
  const ObjectVersion old = Put(12, a);
  const ObjectMeta meta_b = Meta({{"s3bd-encoding", "zstd"}, {"x", "y"}});
  const ObjectVersion current = Put(12, b, meta_b);
  Bytes buf(kBigBuffer, 0);
  std::size_t size = 0;
  bool found = false, changed = false;
  ObjectMeta meta;
  ObjectVersion now;
  ASSERT_FALSE(store_->GetIfChanged(12, old, buf, &size, &found, &meta, &now, &changed));
  EXPECT_TRUE(changed);
  EXPECT_TRUE(found);
  ASSERT_EQ(size, b.size());
  EXPECT_TRUE(std::equal(b.begin(), b.end(), buf.begin()));
  EXPECT_EQ(Sorted(meta), Sorted(meta_b));
  EXPECT_EQ(now, current);

  // And with the current version now: unchanged.
  ASSERT_FALSE(store_->GetIfChanged(12, current, buf, &size, &found, &meta, &now, &changed));
  EXPECT_FALSE(changed);

  // An unknown version is a plain Get.
  ASSERT_FALSE(store_->GetIfChanged(12, ObjectVersion{}, buf, &size, &found, &meta, &now, &changed));
  EXPECT_TRUE(changed);
  EXPECT_EQ(size, b.size());
  EXPECT_EQ(now, current);
}

TEST_P(ObjectStoreConformance, GetIfChangedAfterDeleteIsNotFound) {
  const ObjectVersion v = Put(13, test::RandomBytes(kBs, 15));
  ASSERT_FALSE(store_->Delete(13));
  Bytes buf(kBigBuffer);
  std::size_t size = 1;
  bool found = true, changed = false;
  ObjectMeta meta = Meta({{"stale", "pair"}});
  ObjectVersion now;
  ASSERT_FALSE(store_->GetIfChanged(13, v, buf, &size, &found, &meta, &now, &changed));
  EXPECT_FALSE(found);
  EXPECT_TRUE(changed);
  EXPECT_EQ(size, 0u);
  EXPECT_TRUE(meta.empty());
  EXPECT_FALSE(now.known);
}

TEST_P(ObjectStoreConformance, InvalidMetadataIsRefusedAndStoresNothing) {
  std::vector<ObjectMeta> bad = {
      Meta({{"Upper", "x"}}),
      Meta({{"a b", "x"}}),
      Meta({{"a", "x\ny"}}),
      Meta({{"a", "x\ry"}}),
      Meta({{"", "x"}}),
      Meta({{"a:b", "x"}}),
      Meta({{"a_b", "x"}}),
      Meta({{"a", " leading"}}),
      Meta({{"a", "trailing "}}),
      Meta({{"a", ""}}),  // an empty header value does not travel
      Meta({{"a", std::string("caf\xc3\xa9")}}),
      Meta({{"a", std::string(ObjectMeta::kMaxValue + 1, 'v')}}),
      Meta({{"a", "1"}, {"a", "2"}}),  // a name twice
      Meta({{std::string(65, 'n'), "x"}}),
  };
  ObjectMeta nine;
  for (int i = 0; i < 9; ++i) nine.pairs.emplace_back("n" + std::to_string(i), "v");
  bad.push_back(nine);

  const Bytes old = test::RandomBytes(kBs, 16);
  const ObjectVersion old_version = Put(21, old, Meta({{"a", "b"}}));
  for (const ObjectMeta& m : bad) {
    SCOPED_TRACE(Describe(0, m));
    ObjectVersion v;
    v.known = true;
    EXPECT_TRUE(store_->Put(20, test::RandomBytes(kBs, 17), m, &v));
    EXPECT_FALSE(v.known);
    EXPECT_TRUE(store_->Put(21, test::RandomBytes(kBs, 18), m, nullptr));
    Got g = Get(20);
    EXPECT_FALSE(g.ec);
    EXPECT_FALSE(g.found) << "a refused Put stored an object";
    g = Get(21);
    ASSERT_FALSE(g.ec);
    EXPECT_EQ(g.body, old) << "a refused Put changed the object";
    EXPECT_EQ(Sorted(g.meta), (std::vector<std::pair<std::string, std::string>>{{"a", "b"}}));
    EXPECT_EQ(g.version, old_version);
  }
  EXPECT_EQ(Listed(), (std::set<BlockNum>{21}));

  // The limits themselves are fine: eight pairs, a 64-byte name, a value
  // of kMaxValue bytes.
  ObjectMeta eight;
  for (int i = 0; i < 7; ++i) eight.pairs.emplace_back("n" + std::to_string(i), "v" + std::to_string(i));
  eight.pairs.emplace_back(std::string(64, 'n'), std::string(ObjectMeta::kMaxValue, 'v'));
  ASSERT_TRUE(eight.Valid());
  Put(22, test::RandomBytes(3, 19), eight);
  Got g = Get(22);
  ASSERT_FALSE(g.ec) << g.ec.message();
  EXPECT_EQ(Sorted(g.meta), Sorted(eight));
}

TEST_P(ObjectStoreConformance, ConcurrentGetsSeeOneObjectOrTheOther) {
  // Two objects that differ in length, body and metadata.
  const Bytes a = test::RandomBytes(kBs, 20), b = test::RandomBytes(kBs + 42, 21);
  const ObjectMeta ma = Meta({{"s3bd-encoding", "zstd"}});
  const ObjectMeta mb = Meta({{"s3bd-encoding", "deflate"}, {"content-encoding", "x-s3bd-test"}});
  Put(2, a, ma);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, errors{0}, seen_a{0}, seen_b{0};
  std::thread reader([&] {
    Bytes buf(kBigBuffer);
    ObjectMeta meta;
    while (!stop) {
      std::size_t size = 0;
      bool found = false;
      if (store_->Get(2, buf, &size, &found, &meta, nullptr) || !found) {
        errors++;
        continue;
      }
      const std::span<const std::uint8_t> got(buf.data(), size);
      if (std::ranges::equal(got, a) && Sorted(meta) == Sorted(ma)) {
        seen_a++;
      } else if (std::ranges::equal(got, b) && Sorted(meta) == Sorted(mb)) {
        seen_b++;
      } else {
        torn++;
      }
    }
  });
  // At least 200 Puts, and on until the reader has done 200 Gets and seen
  // both objects (a fast store could finish its Puts before the reader
  // starts); at most 100000.
  const auto reads = [&] { return seen_a.load() + seen_b.load() + torn.load() + errors.load(); };
  for (int i = 0; i < 200 || ((reads() < 200 || seen_a.load() == 0 || seen_b.load() == 0) && i < 100000); ++i) {
    if (i % 2) {
      ASSERT_FALSE(store_->Put(2, a, ma, nullptr));
    } else {
      ASSERT_FALSE(store_->Put(2, b, mb, nullptr));
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(seen_a.load(), 0);
  EXPECT_GT(seen_b.load(), 0);
}

TEST_P(ObjectStoreConformance, OutOfRangeBlockIsInvalidArgument) {
  Bytes buf(kBigBuffer);
  std::size_t size = 0;
  bool found = false, changed = false;
  ObjectVersion v;
  v.known = true;
  EXPECT_EQ(store_->Get(kGeom.num_blocks, buf, &size, &found, nullptr, nullptr), std::errc::invalid_argument);
  EXPECT_EQ(store_->GetIfChanged(kGeom.num_blocks, v, buf, &size, &found, nullptr, nullptr, &changed),
            std::errc::invalid_argument);
  EXPECT_EQ(store_->Put(kGeom.num_blocks, buf, {}, nullptr), std::errc::invalid_argument);
  EXPECT_EQ(store_->Delete(kGeom.num_blocks), std::errc::invalid_argument);
  EXPECT_EQ(store_->Put(~BlockNum{0}, buf, {}, nullptr), std::errc::invalid_argument);
  EXPECT_TRUE(Listed().empty());
}

TEST_P(ObjectStoreConformance, StatsCountOperations) {
  Put(3, test::RandomBytes(100, 22));
  Get(3);
  Get(4);  // absent: a Get, no bytes
  ASSERT_FALSE(store_->Delete(3));
  const StatsJson j = store_->Stats();
  EXPECT_EQ(j["layer"], store_->name());
  EXPECT_EQ(j["ops"]["write"]["ops"], 1);
  EXPECT_EQ(j["ops"]["write"]["bytes"], 100);
  EXPECT_EQ(j["ops"]["read"]["ops"], 2);
  EXPECT_EQ(j["ops"]["read"]["bytes"], 100);
  EXPECT_EQ(j["ops"]["zero"]["ops"], 1);
}

INSTANTIATE_TEST_SUITE_P(AllObjectStores, ObjectStoreConformance, ::testing::ValuesIn(kObjectStores),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace s3bd
