// s3server_test.cpp - GoogleTest suite of the s3bd test S3 server. Most tests
// run S3Server in-process on a free port and talk to it with
// httplib::Client; one runs the s3bd_test_s3server binary as a subprocess to
// check its flags, port file and shutdown endpoint. Fault tests set a fault
// probability to 1.0 and check that the fault really happens.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <pugixml.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server.h"
#include "util.h"

namespace {

using namespace s3server;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto &c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Text of the first element `name` anywhere in an XML document.
std::string xml_value(const std::string &xml, const char *name) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return "<unparsable>";
  auto node = doc.select_node((std::string("//") + name).c_str());
  return node ? node.node().child_value() : "";
}

std::vector<std::string> xml_values(const std::string &xml, const char *path) {
  pugi::xml_document doc;
  std::vector<std::string> out;
  if (!doc.load_buffer(xml.data(), xml.size())) return out;
  for (auto &n : doc.select_nodes(path)) out.emplace_back(n.node().child_value());
  return out;
}

class S3ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start(ServerOptions{}); }

  void start(ServerOptions opts) {
    client_.reset();
    server_.reset();
    opts.threads = 80;
    opts.quiet = true;
    if (opts.buckets.empty()) opts.buckets = {"bkt"};
    if (opts.seed == 0) opts.seed = 12345;
    server_ = std::make_unique<S3Server>(opts);
    port_ = server_->start();
    ASSERT_GT(port_, 0);
    client_ = make_client();
  }

  std::unique_ptr<httplib::Client> make_client(int read_timeout_ms = 10000) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_url_encode(false);
    c->set_decompress(false);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_read_timeout(std::chrono::milliseconds(read_timeout_ms));
    return c;
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
  }

  static std::string path(const std::string &bucket, const std::string &key) {
    return "/" + bucket + "/" + url_encode(key, true);
  }

  void config(const std::string &body) {
    auto r = client_->Post("/_control/config", body, "application/x-www-form-urlencoded");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }

  void put_ok(const std::string &key, const std::string &body, const std::string &bucket = "bkt") {
    auto r = client_->Put(path(bucket, key), body, "application/octet-stream");
    ASSERT_TRUE(r) << key;
    ASSERT_EQ(r->status, 200) << r->body;
  }

  httplib::Result get(const std::string &key, const httplib::Headers &h = {}) {
    return client_->Get(path("bkt", key), h);
  }

  std::string counters() {
    auto r = client_->Get("/_control/counters");
    return r ? r->body : "";
  }

  std::unique_ptr<S3Server> server_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

TEST_F(S3ServerTest, PutGetHeadDeleteRoundTrip) {
  std::string body = random_bytes(100000, 1);
  httplib::Headers h = {{"x-amz-meta-color", "blue"},
                        {"Content-Encoding", "gzip"},
                        {"Cache-Control", "no-cache"}};
  auto r = client_->Put(path("bkt", "dir/obj"), h, body, "application/x-test");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  std::string etag = "\"" + md5_hex(body) + "\"";
  EXPECT_EQ(r->get_header_value("ETag"), etag);

  r = get("dir/obj");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);  // stored as sent, not decompressed
  EXPECT_EQ(r->get_header_value("ETag"), etag);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-test");
  EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(r->get_header_value("x-amz-meta-color"), "blue");
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-cache");
  EXPECT_TRUE(parse_http_date(r->get_header_value("Last-Modified")).has_value());

  r = client_->Head(path("bkt", "dir/obj"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Length"), "100000");
  EXPECT_EQ(r->get_header_value("ETag"), etag);
  EXPECT_EQ(r->get_header_value("x-amz-meta-color"), "blue");
  EXPECT_TRUE(r->body.empty());

  r = client_->Delete(path("bkt", "dir/obj"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  r = get("dir/obj");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(xml_value(r->body, "Code"), "NoSuchKey");
  EXPECT_FALSE(xml_value(r->body, "RequestId").empty());
  r = client_->Head(path("bkt", "dir/obj"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Delete(path("bkt", "dir/obj"));  // missing key: still 204
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
}

TEST_F(S3ServerTest, EmptyObjectAndOverwrite) {
  put_ok("empty", "");
  auto r = get("empty");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->get_header_value("ETag"), "\"d41d8cd98f00b204e9800998ecf8427e\"");
  r = client_->Head(path("bkt", "empty"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Length"), "0");
  put_ok("empty", "now full");
  r = get("empty");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "now full");
}

TEST_F(S3ServerTest, SpecialCharacterKeys) {
  const std::vector<std::string> keys = {"a b/c d", "ünïcødé/ключ/鍵", "x+y&z=1?q#f",
                                         "quote\"s<and>'", "dir//double", "%41literal"};
  for (auto &k : keys) put_ok(k, "v:" + k);
  for (auto &k : keys) {
    auto r = get(k);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << k;
    EXPECT_EQ(r->body, "v:" + k);
  }
  auto r = client_->Get("/bkt?list-type=2");
  ASSERT_TRUE(r);
  auto listed = xml_values(r->body, "//Contents/Key");
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(listed, sorted);
  // encoding-type=url percent-encodes keys in the listing.
  r = client_->Get("/bkt?list-type=2&encoding-type=url&prefix=a%20b");
  ASSERT_TRUE(r);
  EXPECT_EQ(xml_values(r->body, "//Contents/Key"), std::vector<std::string>{"a%20b/c%20d"});
}

TEST_F(S3ServerTest, VirtualHostStyle) {
  put_ok("vh/key", "hello");
  httplib::Headers h = {{"Host", "bkt.localhost:" + std::to_string(port_)}};
  auto r = client_->Get("/vh/key", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  r = client_->Get("/?list-type=2", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(xml_value(r->body, "Key"), "vh/key");
}

TEST_F(S3ServerTest, ContentMd5) {
  std::string body = "some payload";
  httplib::Headers good = {{"Content-MD5", base64_encode(md5_raw(body))}};
  auto r = client_->Put(path("bkt", "md5"), good, body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  httplib::Headers bad = {{"Content-MD5", base64_encode(md5_raw("other"))}};
  r = client_->Put(path("bkt", "md5bad"), bad, body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(xml_value(r->body, "Code"), "BadDigest");
  r = get("md5bad");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  httplib::Headers invalid = {{"Content-MD5", "not base64!"}};
  r = client_->Put(path("bkt", "md5bad"), invalid, body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(xml_value(r->body, "Code"), "InvalidDigest");

  // The connection stays usable after the rejected bodies.
  r = get("md5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, body);
}

TEST_F(S3ServerTest, PayloadSha256) {
  std::string body = "signed payload";
  httplib::Headers good = {{"x-amz-content-sha256", sha256_hex(body)}};
  auto r = client_->Put(path("bkt", "sha"), good, body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  httplib::Headers bad = {{"x-amz-content-sha256", sha256_hex("x")}};
  r = client_->Put(path("bkt", "sha"), bad, body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(xml_value(r->body, "Code"), "XAmzContentSHA256Mismatch");
  httplib::Headers unsigned_payload = {{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
  r = client_->Put(path("bkt", "sha"), unsigned_payload, body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(S3ServerTest, RangeRequests) {
  std::string body = random_bytes(1000, 2);
  put_ok("r", body);
  struct Case {
    std::string range;
    int status;
    size_t first, len;
  };
  const Case cases[] = {{"bytes=0-9", 206, 0, 10},     {"bytes=990-", 206, 990, 10},
                        {"bytes=-5", 206, 995, 5},     {"bytes=500-5000", 206, 500, 500},
                        {"bytes=-5000", 206, 0, 1000}, {"bytes=0-0", 206, 0, 1}};
  for (auto &c : cases) {
    auto r = get("r", {{"Range", c.range}});
    ASSERT_TRUE(r) << c.range;
    EXPECT_EQ(r->status, c.status) << c.range;
    EXPECT_EQ(r->body, body.substr(c.first, c.len)) << c.range;
    EXPECT_EQ(r->get_header_value("Content-Range"),
              "bytes " + std::to_string(c.first) + "-" + std::to_string(c.first + c.len - 1) +
                  "/1000")
        << c.range;
  }
  auto r = get("r", {{"Range", "bytes=1000-"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->get_header_value("Content-Range"), "bytes */1000");
  EXPECT_EQ(xml_value(r->body, "Code"), "InvalidRange");
  // Multiple ranges are not supported by S3: whole object.
  r = get("r", {{"Range", "bytes=0-1,5-6"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
}

TEST_F(S3ServerTest, ListV2Pagination) {
  for (int i = 0; i < 2500; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "k/%05d", i);
    put_ok(key, "x");
  }
  put_ok("other", "y");
  std::vector<std::string> all;
  std::string token;
  int pages = 0;
  for (;;) {
    std::string url = "/bkt?list-type=2&prefix=k/";
    if (!token.empty()) url += "&continuation-token=" + url_encode(token);
    auto r = client_->Get(url);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto keys = xml_values(r->body, "//Contents/Key");
    EXPECT_EQ(xml_value(r->body, "KeyCount"), std::to_string(keys.size()));
    EXPECT_EQ(xml_value(r->body, "MaxKeys"), "1000");
    EXPECT_EQ(xml_values(r->body, "//Contents/StorageClass").size(), keys.size());
    EXPECT_EQ(xml_values(r->body, "//Contents/Size").size(), keys.size());
    EXPECT_FALSE(xml_value(r->body, "LastModified").empty());
    all.insert(all.end(), keys.begin(), keys.end());
    ++pages;
    if (xml_value(r->body, "IsTruncated") != "true") {
      EXPECT_TRUE(xml_value(r->body, "NextContinuationToken").empty());
      break;
    }
    token = xml_value(r->body, "NextContinuationToken");
    ASSERT_FALSE(token.empty());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 2500u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(all.front(), "k/00000");
  EXPECT_EQ(all.back(), "k/02499");

  // Small pages, start-after.
  auto r = client_->Get("/bkt?list-type=2&max-keys=7&start-after=k/00100");
  ASSERT_TRUE(r);
  auto keys = xml_values(r->body, "//Contents/Key");
  ASSERT_EQ(keys.size(), 7u);
  EXPECT_EQ(keys.front(), "k/00101");
  EXPECT_EQ(xml_value(r->body, "IsTruncated"), "true");
  r = client_->Get("/bkt?list-type=2&max-keys=0");
  ASSERT_TRUE(r);
  EXPECT_EQ(xml_value(r->body, "KeyCount"), "0");
}

TEST_F(S3ServerTest, ListDelimiter) {
  for (auto k : {"a/1", "a/2", "b/x/1", "b/y", "c", "d/1"}) put_ok(k, "v");
  auto r = client_->Get("/bkt?list-type=2&delimiter=/");
  ASSERT_TRUE(r);
  EXPECT_EQ(xml_values(r->body, "//CommonPrefixes/Prefix"),
            (std::vector<std::string>{"a/", "b/", "d/"}));
  EXPECT_EQ(xml_values(r->body, "//Contents/Key"), std::vector<std::string>{"c"});
  EXPECT_EQ(xml_value(r->body, "KeyCount"), "4");
  r = client_->Get("/bkt?list-type=2&delimiter=/&prefix=b/");
  ASSERT_TRUE(r);
  EXPECT_EQ(xml_values(r->body, "//CommonPrefixes/Prefix"), std::vector<std::string>{"b/x/"});
  EXPECT_EQ(xml_values(r->body, "//Contents/Key"), std::vector<std::string>{"b/y"});
  // Pagination one entry at a time walks prefixes and keys in order.
  std::vector<std::string> seen;
  std::string token;
  for (int i = 0; i < 10; ++i) {
    std::string url = "/bkt?list-type=2&delimiter=/&max-keys=1";
    if (!token.empty()) url += "&continuation-token=" + url_encode(token);
    r = client_->Get(url);
    ASSERT_TRUE(r);
    for (auto &p : xml_values(r->body, "//CommonPrefixes/Prefix")) seen.push_back(p);
    for (auto &k : xml_values(r->body, "//Contents/Key")) seen.push_back(k);
    if (xml_value(r->body, "IsTruncated") != "true") break;
    token = xml_value(r->body, "NextContinuationToken");
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a/", "b/", "c", "d/"}));
}

TEST_F(S3ServerTest, ListV1MarkerPagination) {
  for (int i = 0; i < 2500; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "blk%06d", i);
    put_ok(key, "x");
  }
  std::vector<std::string> all;
  std::string marker;
  int pages = 0;
  for (;;) {
    auto r = client_->Get("/bkt?prefix=blk&max-keys=1000&marker=" + url_encode(marker));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto keys = xml_values(r->body, "//Contents/Key");
    EXPECT_EQ(xml_value(r->body, "Marker"), marker);
    all.insert(all.end(), keys.begin(), keys.end());
    ++pages;
    if (xml_value(r->body, "IsTruncated") != "true") break;
    std::string next = xml_value(r->body, "NextMarker");
    ASSERT_EQ(next, keys.back());
    marker = next;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(all.size(), 2500u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  auto r = client_->Get("/bkt?max-keys=abc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

std::string delete_body(const std::vector<std::string> &keys, bool quiet) {
  std::string b = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete>";
  if (quiet) b += "<Quiet>true</Quiet>";
  for (auto &k : keys) b += "<Object><Key>" + xml_escape(k) + "</Key></Object>";
  return b + "</Delete>";
}

TEST_F(S3ServerTest, DeleteObjects) {
  for (int i = 0; i < 10; ++i) put_ok("d/" + std::to_string(i), "v");
  std::vector<std::string> del = {"d/0", "d/1", "d/2", "missing", "a&b<c>"};
  std::string body = delete_body(del, false);
  httplib::Headers h = {{"Content-MD5", base64_encode(md5_raw(body))}};
  auto r = client_->Post("/bkt?delete", h, body, "application/xml");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto deleted = xml_values(r->body, "//DeleteResult/Deleted/Key");
  EXPECT_EQ(deleted, del);
  r = get("d/1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = get("d/5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  r = client_->Post("/bkt?delete", delete_body({"d/5", "d/6"}, true), "application/xml");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(xml_values(r->body, "//DeleteResult/Deleted").empty());
  r = client_->Get("/bkt?list-type=2&prefix=d/");
  EXPECT_EQ(xml_values(r->body, "//Contents/Key"),
            (std::vector<std::string>{"d/3", "d/4", "d/7", "d/8", "d/9"}));

  std::vector<std::string> many;
  for (int i = 0; i < 1001; ++i) many.push_back("m" + std::to_string(i));
  r = client_->Post("/bkt?delete", delete_body(many, true), "application/xml");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(xml_value(r->body, "Code"), "MalformedXML");
  r = client_->Post("/bkt?delete", "<Delete><Object>", "application/xml");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(xml_value(r->body, "Code"), "MalformedXML");
}

TEST_F(S3ServerTest, ConditionalRequests) {
  put_ok("c", "v1");
  std::string etag = "\"" + md5_hex("v1") + "\"";
  auto r = get("c", {{"If-None-Match", etag}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());
  r = get("c", {{"If-None-Match", "\"0123\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = get("c", {{"If-Match", "\"0123\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(xml_value(r->body, "Code"), "PreconditionFailed");
  r = get("c", {{"If-Match", etag}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Head(path("bkt", "c"), {{"If-Match", "\"0123\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  r = client_->Head(path("bkt", "c"), {{"If-None-Match", etag}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  r = get("c", {{"If-Modified-Since", http_date(now_unix_ms() + 60000)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);

  // PUT If-None-Match: * creates only.
  r = client_->Put(path("bkt", "c"), {{"If-None-Match", "*"}}, "v2", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(xml_value(r->body, "Code"), "PreconditionFailed");
  r = client_->Put(path("bkt", "new"), {{"If-None-Match", "*"}}, "n", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // PUT If-Match replaces only the expected version.
  r = client_->Put(path("bkt", "c"), {{"If-Match", "\"0123\""}}, "v2", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  r = client_->Put(path("bkt", "c"), {{"If-Match", etag}}, "v2", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = get("c");
  EXPECT_EQ(r->body, "v2");

  // DELETE If-Match removes only the expected version.
  const std::string etag2 = "\"" + md5_hex("v2") + "\"";
  r = client_->Delete(path("bkt", "c"), {{"If-Match", "\"0123\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  r = client_->Delete(path("bkt", "c"), {{"If-Match", etag2}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  r = client_->Delete(path("bkt", "c"), {{"If-Match", etag2}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << "If-Match on a missing key";
  EXPECT_EQ(xml_value(r->body, "Code"), "NoSuchKey");

  // conditions=ignore: a server without conditional writes.
  config("conditions=ignore");
  r = client_->Put(path("bkt", "new"), {{"If-None-Match", "*"}}, "n2", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Put(path("bkt", "new"), {{"If-Match", "\"0123\""}}, "n3", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Delete(path("bkt", "new"), {{"If-Match", "\"0123\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  // conditions=rgw: as Ceph RGW 16, the quoted ETag is refused, the bare one accepted.
  config("conditions=rgw");
  r = client_->Put(path("bkt", "rgw"), {}, "r1", "text/plain");
  ASSERT_TRUE(r);
  r = client_->Put(path("bkt", "rgw"), {{"If-Match", "\"" + md5_hex("r1") + "\""}}, "r2", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  r = client_->Put(path("bkt", "rgw"), {{"If-Match", md5_hex("r1")}}, "r2", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Delete(path("bkt", "rgw"), {{"If-Match", "\"" + md5_hex("r2") + "\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  r = client_->Delete(path("bkt", "rgw"), {{"If-Match", md5_hex("r2")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  config("conditions=honour");
  r = client_->Put(path("bkt", "new"), {{"If-Match", "\"0123\""}}, "n4", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(S3ServerTest, BucketsMissingAndCreated) {
  auto r = client_->Get("/nosuch/key");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/xml");
  EXPECT_EQ(xml_value(r->body, "Code"), "NoSuchBucket");
  EXPECT_EQ(xml_value(r->body, "BucketName"), "nosuch");
  r = client_->Put("/nosuch/key", "body", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Get("/nosuch?list-type=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  r = client_->Put("/nosuch", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Put("/nosuch", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  put_ok("key", "body", "nosuch");
  r = client_->Head("/nosuch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(xml_values(r->body, "//Bucket/Name"), (std::vector<std::string>{"bkt", "nosuch"}));
  r = client_->Delete("/nosuch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(xml_value(r->body, "Code"), "BucketNotEmpty");
  client_->Delete("/nosuch/key");
  r = client_->Delete("/nosuch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  r = client_->Get("/bkt?uploads");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
}

TEST_F(S3ServerTest, AutoCreateBuckets) {
  ServerOptions opts;
  opts.auto_create_buckets = true;
  start(opts);
  put_ok("k", "v", "fresh");
  auto r = client_->Get("/fresh/k");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "v");
}

TEST_F(S3ServerTest, CopyObject) {
  put_ok("src", "copy me");
  auto r = client_->Put(path("bkt", "dst"), {{"x-amz-copy-source", "/bkt/src"}}, "", "");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(xml_value(r->body, "ETag"), "\"" + md5_hex("copy me") + "\"");
  r = get("dst");
  EXPECT_EQ(r->body, "copy me");
}

TEST_F(S3ServerTest, Authentication) {
  ServerOptions opts;
  opts.require_auth = true;
  opts.deny_access_keys = {"BADKEY"};
  start(opts);
  auto r = get("x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(xml_value(r->body, "Code"), "AccessDenied");
  httplib::Headers bad = {
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=BADKEY/20240101/us-east-1/s3/aws4_request, "
       "SignedHeaders=host, Signature=00"}};
  r = client_->Put(path("bkt", "x"), bad, "v", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(xml_value(r->body, "Code"), "InvalidAccessKeyId");
  httplib::Headers good = {
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=GOODKEY/20240101/us-east-1/s3/aws4_request, "
       "SignedHeaders=host, Signature=00"}};
  r = client_->Put(path("bkt", "x"), good, "v", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Get(path("bkt", "x"), good);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "v");
  std::string c = counters();
  EXPECT_NE(c.find("\"access_denied\":1"), std::string::npos) << c;
  EXPECT_NE(c.find("\"invalid_access_key\":1"), std::string::npos) << c;
}

TEST_F(S3ServerTest, FaultHttp500) {
  put_ok("f", "v");
  config("get.http500=1");
  auto r = get("f");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(xml_value(r->body, "Code"), "InternalError");
  // Only GETs are affected.
  r = client_->Head(path("bkt", "f"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  config("get.http500=0");
  r = get("f");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(counters().find("\"http500\":1"), std::string::npos);
}

TEST_F(S3ServerTest, FaultSlowDown) {
  config("any.slowdown=1");
  auto r = client_->Put(path("bkt", "s"), std::string(100000, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(xml_value(r->body, "Code"), "SlowDown");
  r = client_->Get("/bkt?list-type=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  config("faults=none");
  r = get("s");  // the rejected PUT stored nothing; keep-alive still works
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(S3ServerTest, FaultResetGet) {
  std::string body = random_bytes(1 << 20, 3);
  put_ok("big", body);
  config("get.reset=1");
  auto r = get("big");
  EXPECT_FALSE(r) << "status " << (r ? r->status : 0);
  // Also for a small listing.
  config("get.reset=0&list.reset=1");
  r = client_->Get("/bkt?list-type=2");
  EXPECT_FALSE(r);
  config("faults=none");
  r = get("big");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, body);
  EXPECT_NE(counters().find("\"reset\":2"), std::string::npos) << counters();
}

TEST_F(S3ServerTest, FaultResetPutAndHead) {
  config("put.reset=1&head.reset=1");
  auto r = client_->Put(path("bkt", "p"), random_bytes(1 << 20, 4), "application/octet-stream");
  EXPECT_FALSE(r);
  r = client_->Head(path("bkt", "p"));
  EXPECT_FALSE(r);
  config("faults=none");
  r = get("p");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);  // a reset upload is not stored
}

TEST_F(S3ServerTest, FaultResetDeleteIsApplied) {
  put_ok("del", "v");
  config("delete.reset=1");
  auto r = client_->Delete(path("bkt", "del"));
  EXPECT_FALSE(r);  // the answer is lost...
  config("faults=none");
  r = get("del");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);  // ...but the delete happened
}

TEST_F(S3ServerTest, FaultTruncate) {
  std::string body = random_bytes(200000, 5);
  put_ok("t", body);
  config("get.truncate=1");
  std::string received;
  auto r = client_->Get(path("bkt", "t"), [&](const char *d, size_t n) {
    received.append(d, n);
    return true;
  });
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error(), httplib::Error::Read);
  EXPECT_GT(received.size(), 0u);
  EXPECT_LT(received.size(), body.size());
  EXPECT_EQ(received, body.substr(0, received.size()));
  EXPECT_NE(counters().find("\"truncate\":1"), std::string::npos);
}

TEST_F(S3ServerTest, FaultHang) {
  put_ok("h", "v");
  config("get.hang=1&hang_ms=5000");
  auto quick = make_client(300);
  auto t0 = Clock::now();
  auto r = quick->Get(path("bkt", "h"));
  double waited = ms_since(t0);
  EXPECT_FALSE(r);
  EXPECT_GE(waited, 250);
  EXPECT_LT(waited, 4000);
  // POST /_control/reset ends pending hangs; the server stays responsive.
  auto rr = client_->Post("/_control/reset", "", "");
  ASSERT_TRUE(rr);
  config("get.hang=0");
  r = get("h");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "v");
}

TEST_F(S3ServerTest, FaultStaleReadAfterPut) {
  config("stale_ms=300&get.stale=1&head.stale=1");
  put_ok("st", "old");
  auto t_change = Clock::now();
  put_ok("st", "new-version");
  auto r = get("st");
  double age = ms_since(t_change);
  ASSERT_TRUE(r);
  if (age < 250) {
    EXPECT_EQ(r->body, "old");
    EXPECT_EQ(r->get_header_value("ETag"), "\"" + md5_hex("old") + "\"");
    auto h = client_->Head(path("bkt", "st"));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->get_header_value("Content-Length"), "3");
  }
  // After the window, the new version.
  std::string seen;
  auto deadline = Clock::now() + milliseconds(3000);
  while (Clock::now() < deadline) {
    r = get("st");
    ASSERT_TRUE(r);
    seen = r->body;
    if (seen == "new-version") break;
  }
  EXPECT_EQ(seen, "new-version");
  EXPECT_GE(ms_since(t_change), 300);
  EXPECT_EQ(get("st")->body, "new-version");
  EXPECT_EQ(counters().find("\"stale\":0"), std::string::npos);
}

TEST_F(S3ServerTest, FaultStaleReadAfterDeleteAndCreate) {
  config("stale_ms=300&get.stale=1");
  put_ok("sd", "was-here");
  // Let the creation's own window pass (deadline loop, not a blind sleep).
  auto deadline = Clock::now() + milliseconds(3000);
  while (Clock::now() < deadline && get("sd")->status != 200) {
  }
  ASSERT_EQ(get("sd")->status, 200);
  auto t_change = Clock::now();
  auto d = client_->Delete(path("bkt", "sd"));
  ASSERT_TRUE(d);
  auto r = get("sd");
  if (ms_since(t_change) < 250) {
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "was-here");
  }
  deadline = Clock::now() + milliseconds(3000);
  while (Clock::now() < deadline && get("sd")->status != 404) {
  }
  EXPECT_EQ(get("sd")->status, 404);
  EXPECT_GE(ms_since(t_change), 300);
  // A fresh key is invisible during its window (the previous state: absent).
  auto t_create = Clock::now();
  put_ok("fresh", "v");
  r = get("fresh");
  if (ms_since(t_create) < 250) {
    EXPECT_EQ(r->status, 404);
  }
}

TEST_F(S3ServerTest, FaultCorrupt) {
  std::string body = random_bytes(65536, 6);
  put_ok("cor", body);
  config("get.corrupt=1");
  auto r = get("cor");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(r->body.size(), body.size());
  EXPECT_NE(r->body, body);
  size_t diffs = 0;
  for (size_t i = 0; i < body.size(); ++i) diffs += body[i] != r->body[i];
  EXPECT_EQ(diffs, 1u);
  EXPECT_EQ(r->get_header_value("ETag"), "\"" + md5_hex(body) + "\"");
  EXPECT_NE(md5_hex(r->body), md5_hex(body));
  // Ranges are corrupted too.
  r = get("cor", {{"Range", "bytes=100-199"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_NE(r->body, body.substr(100, 100));
  config("get.corrupt=0");
  EXPECT_EQ(get("cor")->body, body);
}

TEST_F(S3ServerTest, OutageWindow) {
  put_ok("o", "v");
  auto t0 = Clock::now();  // the window starts after this and lasts 300 ms
  auto r = client_->Post("/_control/outage?seconds=0.3", "", "");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  r = get("o");
  ASSERT_TRUE(r);
  if (ms_since(t0) < 250) {
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(xml_value(r->body, "Code"), "ServiceUnavailable");
  }
  // Control endpoints keep working during the outage.
  EXPECT_TRUE(client_->Get("/_control/config"));
  auto deadline = Clock::now() + milliseconds(3000);
  int status = 0;
  while (Clock::now() < deadline) {
    r = get("o");
    ASSERT_TRUE(r);
    status = r->status;
    if (status == 200) break;
  }
  EXPECT_EQ(status, 200);
  EXPECT_GE(ms_since(t0), 300);

  // mode=reset drops connections instead.
  r = client_->Post("/_control/outage?seconds=5&mode=reset", "", "");
  ASSERT_TRUE(r);
  auto other = make_client();
  EXPECT_FALSE(other->Get(path("bkt", "o")));
  r = client_->Post("/_control/outage?seconds=0", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(other->Get(path("bkt", "o"))->status, 200);
  EXPECT_EQ(counters().find("\"outage\":0"), std::string::npos);
}

TEST_F(S3ServerTest, LatencyAndBandwidth) {
  std::string body = random_bytes(256 * 1024, 7);
  put_ok("lb", body);
  config("latency_ms=150");
  auto t0 = Clock::now();
  auto r = get("lb");
  ASSERT_TRUE(r);
  EXPECT_GE(ms_since(t0), 145);
  config("latency_ms=0&bandwidth=1m");  // 1 MiB/s: 256 KiB take ~250 ms
  t0 = Clock::now();
  r = get("lb");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, body);
  double down = ms_since(t0);
  EXPECT_GE(down, 200);
  EXPECT_LT(down, 2000);
  t0 = Clock::now();
  put_ok("lb2", body);
  double up = ms_since(t0);
  EXPECT_GE(up, 200);
  config("bandwidth=0");
  t0 = Clock::now();
  r = get("lb");
  ASSERT_TRUE(r);
  EXPECT_LT(ms_since(t0), 200);
}

TEST_F(S3ServerTest, ControlEndpoint) {
  auto r = client_->Get("/_control/config");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("\"seed\":12345"), std::string::npos) << r->body;
  r = client_->Post("/_control/config", "{\"latency_ms\": 5, \"rates\": {\"get\": {\"stale\": 0.25}}}",
                    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("\"latency_ms\":5"), std::string::npos);
  EXPECT_NE(r->body.find("\"stale\":0.25"), std::string::npos);
  auto cfg = server_->faults().config();
  EXPECT_EQ(cfg.latency_ms, 5);
  EXPECT_EQ(cfg.rate(Op::Get, Fault::Stale), 0.25);
  // The JSON form round-trips.
  std::string json = r->body;
  r = client_->Post("/_control/config", json, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // Query-string form.
  r = client_->Post("/_control/config?jitter_ms=2&list.http500=0.5", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(server_->faults().config().rate(Op::List, Fault::Http500), 0.5);
  // Bad knobs are rejected without partial changes.
  r = client_->Post("/_control/config", "latency_ms=1&nonsense=3", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(server_->faults().config().latency_ms, 5);
  r = client_->Post("/_control/config", "get.reset=1.5", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Get("/_control/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  // reset?config=1 restores the start-up knobs.
  r = client_->Post("/_control/reset?config=1", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(server_->faults().config().latency_ms, 0);
}

TEST_F(S3ServerTest, CountersAndReset) {
  put_ok("c1", std::string(1000, 'a'));
  put_ok("c2", std::string(500, 'b'));
  get("c1");
  get("c1");
  get("missing");
  client_->Head(path("bkt", "c1"));
  client_->Get("/bkt?list-type=2");
  client_->Delete(path("bkt", "c2"));
  std::string c = counters();
  EXPECT_NE(c.find("\"get_object\":3"), std::string::npos) << c;
  EXPECT_NE(c.find("\"put_object\":2"), std::string::npos) << c;
  EXPECT_NE(c.find("\"head_object\":1"), std::string::npos) << c;
  EXPECT_NE(c.find("\"list_objects_v2\":1"), std::string::npos) << c;
  EXPECT_NE(c.find("\"delete_object\":1"), std::string::npos) << c;
  EXPECT_NE(c.find("\"bytes_in\":1500"), std::string::npos) << c;
  EXPECT_NE(c.find("\"objects\":1,"), std::string::npos) << c;
  EXPECT_NE(c.find("\"bytes_stored\":1000"), std::string::npos) << c;
  EXPECT_NE(c.find("\"4xx\":1"), std::string::npos) << c;
  auto r = client_->Post("/_control/reset", "", "");
  ASSERT_TRUE(r);
  c = counters();
  EXPECT_NE(c.find("\"total\":0"), std::string::npos) << c;
  EXPECT_NE(c.find("\"objects\":1,"), std::string::npos) << c;
  r = client_->Post("/_control/reset?data=1", "", "");
  ASSERT_TRUE(r);
  c = counters();
  EXPECT_NE(c.find("\"objects\":0,"), std::string::npos) << c;
  EXPECT_NE(c.find("\"bytes_stored\":0"), std::string::npos) << c;
  EXPECT_EQ(get("c1")->status, 404);
}

TEST_F(S3ServerTest, SeededFaultsReplay) {
  auto statuses = [&]() {
    ServerOptions opts;
    opts.seed = 777;
    start(opts);
    put_ok("k", "v");
    config("get.http500=0.5");
    std::string s;
    for (int i = 0; i < 40; ++i) s += get("k")->status == 500 ? 'E' : '.';
    return s;
  };
  std::string a = statuses(), b = statuses();
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find('E'), std::string::npos);
  EXPECT_NE(a.find('.'), std::string::npos);
}

TEST_F(S3ServerTest, ConcurrentClients) {
  constexpr int kThreads = 64, kOps = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = make_client();
      for (int i = 0; i < kOps; ++i) {
        std::string key = "cc/" + std::to_string(t) + "/" + std::to_string(i);
        std::string body = random_bytes(32768, static_cast<uint64_t>(t * 1000 + i));
        auto p = c->Put(path("bkt", key), body, "application/octet-stream");
        auto g = c->Get(path("bkt", key));
        if (!p || p->status != 200 || !g || g->body != body) ++failures;
      }
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server_->store().stats().objects, static_cast<uint64_t>(kThreads * kOps));
}

TEST_F(S3ServerTest, ShutdownEndpointInProcess) {
  put_ok("k", "v");
  auto r = client_->Post("/_control/shutdown", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // The server stops accepting: wait for a refused connection.
  auto deadline = Clock::now() + milliseconds(5000);
  bool refused = false;
  while (Clock::now() < deadline && !refused) {
    auto c = make_client(500);
    refused = !c->Get(path("bkt", "k"));
  }
  EXPECT_TRUE(refused);
  server_.reset();  // joins the stopper thread
}

#ifdef S3_LOADGEN_BINARY
TEST_F(S3ServerTest, LoadgenSmoke) {
  for (const char *op : {"put", "get"}) {
    std::string cmd = std::string(S3_LOADGEN_BINARY) + " --port " + std::to_string(port_) +
                      " --connections 4 --size 64k --count 40 --op " + op;
    FILE *p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[1024] = {0};
    std::string out;
    while (fgets(buf, sizeof buf, p)) out += buf;
    EXPECT_EQ(pclose(p), 0) << out;
    EXPECT_NE(out.find("\"requests\":40,\"errors\":0"), std::string::npos) << out;
    EXPECT_NE(out.find("\"p99_ms\""), std::string::npos) << out;
  }
}
#endif

#ifdef S3SERVER_BINARY
TEST(S3ServerBinary, PortFileAndShutdown) {
  char dir_template[] = "/tmp/s3server-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string port_file = std::string(dir_template) + "/port";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(S3SERVER_BINARY, S3SERVER_BINARY, "--port", "0", "--port-file", port_file.c_str(),
          "--bucket", "pf", "--quiet", "--threads", "16", "--fault", "get.http500=1",
          "--seed", "5", static_cast<char *>(nullptr));
    _exit(127);
  }
  int port = 0;
  auto deadline = Clock::now() + milliseconds(10000);
  while (Clock::now() < deadline && port == 0) {
    std::ifstream f(port_file);
    if (!(f >> port)) port = 0;
    if (port == 0) std::this_thread::sleep_for(milliseconds(5));  // polling a file
  }
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  c.set_tcp_nodelay(true);
  auto r = c.Put("/pf/key", "value", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/pf/key");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);  // from --fault
  r = c.Get("/_control/config");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("\"seed\":5"), std::string::npos);
  r = c.Post("/_control/shutdown", "", "");
  ASSERT_TRUE(r);
  int status = -1;
  deadline = Clock::now() + milliseconds(10000);
  pid_t done = 0;
  while (Clock::now() < deadline && (done = waitpid(pid, &status, WNOHANG)) == 0)
    std::this_thread::sleep_for(milliseconds(5));  // polling a child
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "server did not exit after /_control/shutdown";
  }
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::remove(port_file.c_str());
  rmdir(dir_template);
}

TEST(S3ServerBinary, HelpAndBadFlag) {
  std::string cmd = std::string(S3SERVER_BINARY) + " --help > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  cmd = std::string(S3SERVER_BINARY) + " --no-such-flag 2> /dev/null";
  int st = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  cmd = std::string(S3SERVER_BINARY) + " --fault get.bogus=1 2> /dev/null";
  st = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}
#endif

}  // namespace
