// The S3 store and the S3 part of the composition root against the
// in-process test S3 server (tests/s3server): s3backer key layout, the
// block map layer over S3 (reads of absent blocks cost no request), injected
// server faults survived by retries, a PUT that fails for good is never
// reported written, and nothing is written before CommitGeometry. Also
// STORE URL parsing, which needs no server.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <set>
#include <thread>

#include "s3_test_support.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/core/stack.h"
#include "s3bd/map/block_map.h"
#include "s3bd/s3/crypto.h"
#include "s3bd/s3/object_key.h"
#include "s3bd/store/s3_store.h"
#include "test_util.h"

namespace s3bd {
namespace {

using namespace std::chrono_literals;

TEST(S3StoreUrl, BucketAndPrefix) {
  struct Case {
    const char* url;
    const char* bucket;
    const char* prefix;
  } cases[] = {
      {"s3://bkt", "bkt", ""},
      {"s3://bkt/", "bkt", ""},
      {"s3://my.bucket-1/vol1", "my.bucket-1", "vol1/"},
      {"s3://bkt/a/b/", "bkt", "a/b/"},
      {"s3://bkt/with space/ünïcode+=&~", "bkt", "with space/ünïcode+=&~/"},
      {"s3://bkt/a.b/..c/x../...", "bkt", "a.b/..c/x../.../"},  // dots inside names are fine
  };
  for (const Case& c : cases) {
    StoreConfig config;
    config.url = c.url;
    ResolveStoreUrl(config);
    EXPECT_TRUE(config.is_s3) << c.url;
    EXPECT_EQ(config.s3.bucket, c.bucket) << c.url;
    EXPECT_EQ(config.s3.prefix, c.prefix) << c.url;
  }
}

TEST(S3StoreUrl, MalformedUrlsAreRejected) {
  for (const char* url : {"s3://", "s3:///prefix", "s3://B/x", "s3://ab/x", "s3://bkt_1/x", "s3://-bkt/x",
                          "s3://bkt../x", "s3://bkt//x", "s3://bkt/a\tb"}) {
    StoreConfig config;
    config.url = url;
    try {
      ResolveStoreUrl(config);
      ADD_FAILURE() << url << " was accepted";
    } catch (const StartupError& e) {
      EXPECT_NE(std::string(e.what()).find("invalid store URL"), std::string::npos) << e.what();
    }
  }
}

// ResolveStoreUrl(url) must refuse it as bad usage with exactly `message`.
void ExpectRefused(const std::string& url, const std::string& message) {
  StoreConfig config;
  config.url = url;
  try {
    ResolveStoreUrl(config);
    ADD_FAILURE() << url << " was accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

// A "." or ".." segment (or an empty one) would name keys that HTTP tools,
// proxies and some servers rewrite (a/../../other/x is bucket "other"'s x
// to them); the prefix is refused before anything is sent.
TEST(S3StoreUrl, DotAndEmptySegmentsAreRejected) {
  for (const char* url : {"s3://bkt/a/../../other/evil", "s3://bkt/../etc", "s3://bkt/./x", "s3://bkt/a/./b",
                          "s3://bkt/a/..", "s3://bkt/a/../", "s3://bkt/.", "s3://bkt/..", "s3://bkt/a/."}) {
    ExpectRefused(url, fmt::format("invalid store URL '{}': the prefix must not contain '.' or '..' segments", url));
  }
  for (const char* url : {"s3://bkt/a//b", "s3://bkt/a//"}) {
    ExpectRefused(url, fmt::format("invalid store URL '{}': the prefix must not contain empty segments ('//')", url));
  }
}

#ifdef S3BD_HAVE_TEST_S3SERVER

bool ServerHas(const std::string& key) {
  return test::SharedS3Server().store().get(test::kTestBucket, key, 0).obj != nullptr;
}

TEST(S3Store, KeysFollowTheS3backerLayout) {
  const Geometry g{4096, 1024};
  const std::string prefix = test::UniquePrefix();
  auto plain = test::RawBlocks(std::make_unique<S3Store>(test::SharedServerClient(prefix), s3::KeyScheme{prefix, false}, g));
  ASSERT_FALSE(plain->Write(0x2a, test::RandomBytes(g.block_size, 1)));
  EXPECT_TRUE(ServerHas(prefix + "0000002a"));

  const std::string hprefix = test::UniquePrefix();
  auto hashed = test::RawBlocks(std::make_unique<S3Store>(test::SharedServerClient(hprefix), s3::KeyScheme{hprefix, true}, g));
  ASSERT_FALSE(hashed->Write(0x2a, test::RandomBytes(g.block_size, 1)));
  const std::string key = s3::BlockKey(s3::KeyScheme{hprefix, true}, 0x2a);
  EXPECT_TRUE(std::regex_match(key, std::regex(hprefix + "[0-9a-f]{8}-0000002a"))) << key;
  EXPECT_TRUE(ServerHas(key));
  EXPECT_FALSE(ServerHas(hprefix + "0000002a"));
}

// The block map layer over S3 (what a read-write mount has): the survey
// lists the bucket once, in 16 parallel ranges; then reads and zeros of
// blocks without an object send nothing.
TEST(S3Store, BlockMapAnswersAbsentBlocksWithoutRequests) {
  const Geometry g{4096, 100000};  // enough blocks for 16 listing ranges
  const std::string prefix = test::UniquePrefix();
  auto client = test::SharedServerClient(prefix);
  const std::set<BlockNum> written = {0, 3, 700, 6249, 6250, 50000, 99999};
  {
    auto writer = test::RawBlocks(std::make_unique<S3Store>(client, s3::KeyScheme{prefix, false}, g));
    for (BlockNum b : written) ASSERT_FALSE(writer->Write(b, test::RandomBytes(g.block_size, b + 1)));
    // Without a block map, ListNonZero lists the bucket (in parallel ranges).
    std::set<BlockNum> listed;
    ASSERT_FALSE(writer->ListNonZero([&](BlockNum b) { listed.insert(b); }));
    EXPECT_EQ(listed, written);
  }
  ASSERT_FALSE(client->WriteMeta("s3bd-volume", "not a block", MetaCondition::None(), nullptr));  // ignored by the listing

  BlockMapStore store(test::RawBlocks(std::make_unique<S3Store>(client, s3::KeyScheme{prefix, false}, g)));
  const auto lists = [&] { return client->stats().requests(s3::S3Stats::kList); };
  const auto before_lists = lists();
  ASSERT_FALSE(store.RunSurvey());
  EXPECT_EQ(store.survey(), BlockMapStore::Survey::kDone);
  EXPECT_EQ(lists(), before_lists + 16) << "one listing per key range";
  std::set<BlockNum> listed;
  ASSERT_FALSE(store.ListNonZero([&](BlockNum b) { listed.insert(b); }));
  EXPECT_EQ(listed, written);
  EXPECT_EQ(lists(), before_lists + 16) << "ListNonZero answered from the map";

  const auto gets = [&] { return client->stats().requests(s3::S3Stats::kGet); };
  std::vector<std::uint8_t> buf(g.block_size);
  auto before = gets();
  ASSERT_FALSE(store.Read(5, buf));
  ASSERT_FALSE(store.Read(99998, buf));
  EXPECT_EQ(gets(), before) << "absent blocks are answered from the map";
  EXPECT_EQ(buf, std::vector<std::uint8_t>(g.block_size, 0));
  ASSERT_FALSE(store.Read(700, buf));
  EXPECT_EQ(gets(), before + 1);
  EXPECT_EQ(buf, test::RandomBytes(g.block_size, 701));

  // Zero marks the block absent after the DELETE; a zero of an absent block sends nothing.
  const auto deletes = [&] { return client->stats().requests(s3::S3Stats::kDelete); };
  ASSERT_FALSE(store.Zero(700));
  EXPECT_FALSE(ServerHas(prefix + s3::BlockHex(700)));
  const auto d = deletes();
  ASSERT_FALSE(store.Zero(701));
  EXPECT_EQ(deletes(), d);
  before = gets();
  ASSERT_FALSE(store.Read(700, buf));
  EXPECT_EQ(gets(), before);
  // A write marks it present again.
  ASSERT_FALSE(store.Write(701, test::RandomBytes(g.block_size, 9)));
  ASSERT_FALSE(store.Read(701, buf));
  EXPECT_EQ(buf, test::RandomBytes(g.block_size, 9));
  const StatsJson stats = store.Stats()[0];
  EXPECT_EQ(stats["layer"], "map");
  EXPECT_EQ(stats["reads_saved"], 3u);
  EXPECT_EQ(stats["zeros_saved"], 1u);
  EXPECT_EQ(stats["known_present"], written.size());  // 700 went, 701 came
}

// A cache file's copy is revalidated with a conditional GET: 304 moves no
// data; a changed or deleted object comes back whole.
TEST(S3Store, RevalidateIsAConditionalGet) {
  const Geometry g{4096, 64};
  const std::string prefix = test::UniquePrefix();
  auto client = test::SharedServerClient(prefix);
  auto store = test::RawBlocks(std::make_unique<S3Store>(client, s3::KeyScheme{prefix, false}, g));
  const auto data = test::RandomBytes(g.block_size, 5);
  ObjectVersion v, now;
  ASSERT_FALSE(store->Write(5, data, &v));
  ASSERT_TRUE(v.known);
  EXPECT_EQ(s3::HexEncode(v.tag), s3::Md5Hex(data));  // the ETag
  std::vector<std::uint8_t> out(g.block_size, 0xee);
  bool fresh = true;
  ASSERT_FALSE(store->Revalidate(5, v, out, &fresh, &now));
  EXPECT_FALSE(fresh);
  std::ostringstream stats;
  store->PrintStats(stats);
  EXPECT_NE(stats.str().find("bytes sent 4096 received 0"), std::string::npos) << stats.str();

  const auto newer = test::RandomBytes(g.block_size, 6);
  ObjectVersion v2;
  ASSERT_FALSE(store->Write(5, newer, &v2));
  ASSERT_FALSE(store->Revalidate(5, v, out, &fresh, &now));
  EXPECT_TRUE(fresh);
  EXPECT_EQ(out, newer);
  EXPECT_EQ(now, v2);
  ASSERT_FALSE(store->Zero(5));
  ASSERT_FALSE(store->Revalidate(5, v, out, &fresh, &now));
  EXPECT_TRUE(fresh);
  EXPECT_TRUE(IsAllZero(out));
  EXPECT_FALSE(now.known);
}

// A plain block object of the wrong size is an error, whether shorter or
// longer than a block (the longer one is cut off at the buffer's end).
TEST(S3Store, ObjectOfTheWrongSizeIsAnError) {
  const Geometry g{4096, 16};
  const std::string prefix = test::UniquePrefix();
  auto client = test::SharedServerClient(prefix);
  auto store = test::RawBlocks(std::make_unique<S3Store>(client, s3::KeyScheme{prefix, false}, g));
  std::string detail;
  ASSERT_FALSE(client->PutObject(prefix + s3::BlockHex(1), test::RandomBytes(g.block_size - 1, 1), &detail));
  ASSERT_FALSE(client->PutObject(prefix + s3::BlockHex(2), test::RandomBytes(g.block_size + 1, 2), &detail));
  ASSERT_FALSE(client->PutObject(prefix + s3::BlockHex(3), test::RandomBytes(g.block_size, 3), &detail));
  std::vector<std::uint8_t> buf(g.block_size);
  EXPECT_EQ(store->Read(1, buf), make_error_code(Errc::kBadBlockSize));
  EXPECT_EQ(store->Read(2, buf), make_error_code(Errc::kBadBlockSize));
  ASSERT_FALSE(store->Read(3, buf));
  EXPECT_EQ(buf, test::RandomBytes(g.block_size, 3));
  bool fresh = false;
  ObjectVersion v, now;
  v.known = true;
  EXPECT_EQ(store->Revalidate(2, v, buf, &fresh, &now), make_error_code(Errc::kBadBlockSize));
  EXPECT_EQ(store->Revalidate(1, v, buf, &fresh, &now), make_error_code(Errc::kBadBlockSize));
}

TEST(S3Store, SurvivesInjectedServerFaults) {
  auto& server = test::SharedS3Server();
  const Geometry g{4096, 64};
  auto store = test::MakeTestS3Store(g);
  ASSERT_TRUE(store);
  ASSERT_EQ(server.faults().set_many("http500=0.2&slowdown=0.1&reset=0.1&truncate=0.1&get.corrupt=0.2"), "");
  for (BlockNum b = 0; b < 40; ++b) ASSERT_FALSE(store->Write(b, test::RandomBytes(g.block_size, b + 100)));
  std::vector<std::uint8_t> buf(g.block_size);
  for (BlockNum b = 0; b < 40; ++b) {
    ASSERT_FALSE(store->Read(b, buf));
    EXPECT_EQ(buf, test::RandomBytes(g.block_size, b + 100)) << b;
  }
  ASSERT_EQ(server.faults().set_many("faults=none"), "");
  std::ostringstream stats;
  store->PrintStats(stats);
  EXPECT_EQ(stats.str().find("retries 0\n"), std::string::npos) << "faults were retried: " << stats.str();
}

TEST(S3Store, FailedPutIsNeverReportedWritten) {
  auto& server = test::SharedS3Server();
  const Geometry g{4096, 16};
  const std::string prefix = test::UniquePrefix();
  auto cfg = test::TestClientConfig(test::SharedS3ServerUrl(), test::kTestBucket, prefix);
  cfg.retry.budget = 300ms;
  auto store = test::RawBlocks(std::make_unique<S3Store>(std::make_shared<s3::S3Client>(cfg, test::TestCredentials()), s3::KeyScheme{prefix, false}, g));
  const auto old_data = test::RandomBytes(g.block_size, 1);
  ASSERT_FALSE(store->Write(1, old_data));
  server.faults().start_outage(1.0, s3server::OutageMode::Http503);
  EXPECT_EQ(store->Write(1, test::RandomBytes(g.block_size, 2)), make_error_code(Errc::kStoreUnavailable));
  std::this_thread::sleep_for(1100ms);
  std::vector<std::uint8_t> buf(g.block_size);
  ASSERT_FALSE(store->Read(1, buf));
  EXPECT_EQ(buf, old_data);
}

TEST(S3Stack, NothingIsWrittenBeforeCommitGeometry) {
  ::setenv("AWS_ACCESS_KEY_ID", test::kTestAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", test::kTestSecret, 1);
  ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  StoreConfig config;
  const std::string prefix = test::UniquePrefix();
  config.url = std::string("s3://") + test::kTestBucket + "/" + prefix;
  ResolveStoreUrl(config);
  config.s3.endpoint = test::SharedS3ServerUrl();
  config.s3.list_blocks = true;
  config.size = 64u << 20;
  config.block_size = 64u << 10;
  Stack stack = BuildStack(config);
  ASSERT_NE(stack.map, nullptr);
  EXPECT_EQ(stack.survey, Stack::Survey::kFirstRequired);
  SurveyBlocksFirst(stack);  // --list-blocks: lists, writes nothing
  EXPECT_EQ(stack.map->survey(), BlockMapStore::Survey::kDone);
  EXPECT_FALSE(ServerHas(prefix + kVolumeMetaKey));
  CommitGeometry(stack);
  EXPECT_TRUE(ServerHas(prefix + kVolumeMetaKey));
  std::string text;
  ASSERT_FALSE(stack.meta->ReadMeta(kVolumeMetaKey, text, nullptr));
  EXPECT_EQ(DecodeVolumeMeta(text).geometry.num_blocks, 1024u);

  // A nonexistent bucket is a one-line start-up error.
  StoreConfig missing = config;
  missing.url = "s3://no-such-bucket/x";
  ResolveStoreUrl(missing);
  try {
    BuildStack(missing);
    ADD_FAILURE() << "BuildStack succeeded";
  } catch (const StartupError& e) {
    EXPECT_STREQ(e.what(), "bucket no-such-bucket does not exist");
  }
}

#endif  // S3BD_HAVE_TEST_S3SERVER

// Every key under the prefix, blocks or not, exactly once and in key order
// (the listing `s3bd verify` and `s3bd erase` use); keys of other prefixes
// are not listed.
TEST(S3Store, ListAllObjectsSeesEveryKeyUnderThePrefix) {
  const Geometry g{4096, 5000};  // several key ranges
  const std::string prefix = test::UniquePrefix();
  auto client = test::SharedServerClient(prefix);
  auto store = test::RawBlocks(std::make_unique<S3Store>(client, s3::KeyScheme{prefix, false}, g));
  std::string detail;
  std::vector<std::string> want;
  for (BlockNum b : {0, 1, 1999, 2500, 4999, 6000}) want.push_back(prefix + s3::BlockHex(b));
  want.push_back(prefix + "junk");
  want.push_back(prefix + "s3bd-volume");
  want.push_back(prefix + "sub/00000001");
  for (const auto& k : want) ASSERT_FALSE(client->PutObject(k, test::RandomBytes(10, 1), &detail)) << detail;
  ASSERT_FALSE(client->PutObject(prefix.substr(0, prefix.size() - 1) + "x/00000001", test::RandomBytes(1, 1), &detail));
  std::sort(want.begin(), want.end());
  std::vector<std::string> got;
  ASSERT_FALSE(test::S3Of(*store).ListAllObjects([&](const s3::ListedObject& o) { got.push_back(o.key); }, &detail)) << detail;
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace s3bd
