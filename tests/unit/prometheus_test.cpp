// The stats tree as Prometheus metrics (metrics/prometheus.h), and the
// /metrics endpoint (metrics/metrics_server.h).
#include <httplib.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "s3bd/cache/block_cache.h"
#include "s3bd/core/errors.h"
#include "s3bd/guard/consistency_guard.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/memory_store.h"
#include "s3bd/metrics/metrics_server.h"
#include "s3bd/metrics/prometheus.h"

namespace s3bd {
namespace {

StatsJson SampleTree() {
  StatsJson s3;
  s3["layer"] = "s3";
  s3["requests"] = {{"get", 7}, {"put", 3}};
  s3["total_requests"] = 10;
  s3["bytes_sent"] = 3000;
  s3["latency_avg_ms"] = 2.5;
  s3["retries"] = 2;
  s3["errors"] = {{"timeout", 1}, {"server", 0}};
  s3["latency_histogram"] = {{"upper_us", {1024, 2048}}, {"below", {4, 9}}, {"count", 10}, {"sum_us", 25000}};
  s3["outage"] = {{"failing", false}, {"outages", 1}, {"failing_for_s", 0.0}, {"retries", 0}, {"reason", "x"}};
  MarkGauges(s3["outage"], {"failing", "retries"});
  StatsJson cache;
  cache["layer"] = "cache";
  cache["ops"] = {{"read", {{"ops", 4}, {"bytes", 4096}, {"errors", 1}, {"avg_ms", 0.5}}}};
  cache["hits"] = 3;
  cache["dirty_blocks"] = 2;
  cache["oldest_dirty_s"] = 1.5;
  cache["cache_file"] = {{"path", "/var/cache/x"}, {"slots", 8}, {"journal_syncs", 5}, {"durable", true}};
  MarkGauges(cache, {"dirty_blocks"});
  MarkGauges(cache["cache_file"], {"slots"});
  StatsJson tree;
  tree["version"] = 1;
  tree["volume"] = {{"size", 1 << 20}, {"block_size", 4096}, {"num_blocks", 256}, {"read_only", false}};
  tree["fuse"] = {{"largest_read_request", 4096}, {"largest_write_request", 0}, {"errors_returned", 1}};
  tree["daemon"] = {{"pid", 1}, {"mountpoint", "/mnt/\"x\""}};
  tree["layers"] = StatsJson::array({cache, s3});
  return tree;
}

// name{labels} value -> value, and each family's TYPE.
struct Parsed {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
};

Parsed Parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$)");
  const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ")) continue;
    if (std::regex_match(line, m, type)) {
      EXPECT_FALSE(p.types.contains(m[1])) << "TYPE twice: " << line;
      p.types[m[1]] = m[2];
      continue;
    }
    EXPECT_TRUE(std::regex_match(line, m, sample)) << "not a sample line: '" << line << "'";
    EXPECT_FALSE(p.samples.contains(m[1].str() + m[2].str())) << "sample twice: " << line;
    p.samples[m[1].str() + m[2].str()] = m[3];
  }
  return p;
}

TEST(Prometheus, NamesTypesAndValues) {
  const Parsed p = Parse(RenderPrometheus(SampleTree()));
  EXPECT_EQ(p.samples.at("s3bd_volume_size_bytes"), "1048576");
  EXPECT_EQ(p.types.at("s3bd_volume_size_bytes"), "gauge");
  EXPECT_EQ(p.samples.at("s3bd_frontend_errors_total{frontend=\"fuse\"}"), "1");
  EXPECT_EQ(p.samples.at("s3bd_layer_operations_total{layer=\"cache\",op=\"read\"}"), "4");
  EXPECT_EQ(p.samples.at("s3bd_layer_errors_total{layer=\"cache\",op=\"read\"}"), "1");
  EXPECT_EQ(p.samples.at("s3bd_layer_duration_seconds_total{layer=\"cache\",op=\"read\"}"), "0.002");
  EXPECT_EQ(p.samples.at("s3bd_cache_hits_total"), "3");
  EXPECT_EQ(p.types.at("s3bd_cache_hits_total"), "counter");
  EXPECT_EQ(p.samples.at("s3bd_cache_dirty_blocks"), "2");
  EXPECT_EQ(p.types.at("s3bd_cache_dirty_blocks"), "gauge");
  EXPECT_EQ(p.samples.at("s3bd_cache_oldest_dirty_seconds"), "1.5");
  EXPECT_EQ(p.samples.at("s3bd_cache_cache_file_slots"), "8");
  EXPECT_EQ(p.samples.at("s3bd_cache_cache_file_journal_syncs_total"), "5");
  EXPECT_EQ(p.samples.at("s3bd_cache_cache_file_durable"), "1");
  EXPECT_EQ(p.samples.at("s3bd_s3_requests_total{kind=\"get\"}"), "7");
  EXPECT_EQ(p.samples.at("s3bd_s3_errors_total{class=\"timeout\"}"), "1");
  EXPECT_EQ(p.samples.at("s3bd_s3_retries_total"), "2");
  EXPECT_EQ(p.samples.at("s3bd_s3_bytes_sent_total"), "3000");
  EXPECT_EQ(p.types.at("s3bd_s3_outage_retries"), "gauge") << "a level that resets is not a counter";
  EXPECT_EQ(p.types.at("s3bd_s3_outage_failing"), "gauge");
  // The histogram: cumulative buckets, +Inf = count, sum in seconds.
  EXPECT_EQ(p.types.at("s3bd_s3_request_duration_seconds"), "histogram");
  EXPECT_EQ(p.samples.at("s3bd_s3_request_duration_seconds_bucket{le=\"0.001024\"}"), "4");
  EXPECT_EQ(p.samples.at("s3bd_s3_request_duration_seconds_bucket{le=\"0.002048\"}"), "9");
  EXPECT_EQ(p.samples.at("s3bd_s3_request_duration_seconds_bucket{le=\"+Inf\"}"), "10");
  EXPECT_EQ(p.samples.at("s3bd_s3_request_duration_seconds_count"), "10");
  EXPECT_EQ(p.samples.at("s3bd_s3_request_duration_seconds_sum"), "0.025");
  // Derived numbers and strings are left out.
  for (const auto& [name, value] : p.samples) {
    EXPECT_EQ(name.find("avg"), std::string::npos) << name;
    EXPECT_EQ(name.find("total_requests"), std::string::npos) << name;
    EXPECT_EQ(name.find("reason"), std::string::npos) << name;
    EXPECT_EQ(name.find("path"), std::string::npos) << name;
    EXPECT_EQ(name.find("pid"), std::string::npos) << name;
  }
  for (const auto& [name, t] : p.types) {
    if (t == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    }
  }
}

// The layers themselves say which of their keys are levels: rendered from
// a real cache, guard and map, every key a layer marks is a gauge, every
// other number a counter (_total), and no "gauges" list is a metric.
TEST(Prometheus, RealLayersMarkTheirGauges) {
  auto mem = std::make_unique<MemoryStore>(Geometry{4096, 64});
  auto map = std::make_unique<BlockMapStore>(std::move(mem));
  auto guard = std::make_unique<ConsistencyGuard>(std::move(map), GuardConfig{});
  CacheConfig cfg;
  cfg.cache_size = 16 * 4096;
  BlockCache cache(std::move(guard), cfg);
  std::vector<std::uint8_t> block(4096, 7);
  ASSERT_FALSE(cache.Write(3, block));
  const StatsJson tree = MakeStatsTree(cache, false, "fuse", FrontendCounters{}.ToJson(), StatsJson::object());
  const Parsed p = Parse(RenderPrometheus(tree));
  std::size_t marked = 0;
  for (const StatsJson& layer : tree["layers"]) {
    const std::string name = layer["layer"];
    if (!layer.contains("gauges")) continue;
    for (const StatsJson& k : layer["gauges"]) {
      const std::string metric = "s3bd_" + name + "_" + k.get<std::string>();
      ASSERT_TRUE(p.types.contains(metric)) << metric;
      EXPECT_EQ(p.types.at(metric), "gauge") << metric;
      ++marked;
    }
    EXPECT_FALSE(p.types.contains("s3bd_" + name + "_gauges")) << name;
  }
  EXPECT_GE(marked, 20u);
  // Two levels the renderer once took for counters.
  EXPECT_EQ(p.types.at("s3bd_cache_seen_once"), "gauge");
  EXPECT_EQ(p.types.at("s3bd_map_known_absent"), "gauge");
  EXPECT_EQ(p.samples.at("s3bd_cache_dirty_blocks"), "1");
  EXPECT_EQ(p.types.at("s3bd_cache_evictions_total"), "counter");
}

TEST(Prometheus, LabelValuesAreEscaped) {
  StatsJson tree = SampleTree();
  tree["layers"][0]["layer"] = "ca\"che\\x";
  const std::string text = RenderPrometheus(tree);
  EXPECT_NE(text.find("layer=\"ca\\\"che\\\\x\""), std::string::npos) << text;
  Parse(text);
}

TEST(Prometheus, EmptyTreeRendersNothingBroken) {
  EXPECT_EQ(RenderPrometheus(StatsJson::object()), "");
  Parse(RenderPrometheus(StatsJson::parse(R"({"layers": [{"layer": "x", "ops": {}}], "volume": {}})")));
}

TEST(MetricsAddress, Parses) {
  EXPECT_EQ(ParseMetricsAddress("9100").host, "127.0.0.1");
  EXPECT_EQ(ParseMetricsAddress("9100").port, 9100);
  EXPECT_EQ(ParseMetricsAddress("0.0.0.0:9101").host, "0.0.0.0");
  EXPECT_EQ(ParseMetricsAddress("[::1]:9102").host, "::1");
  EXPECT_EQ(ParseMetricsAddress("[::1]:9102").port, 9102);
  for (const char* bad : {"", "0", "65536", "x", "host:", ":9100", "1.2.3.4:99999", "[::1]9100", "9100x"}) {
    EXPECT_THROW(ParseMetricsAddress(bad), UsageError) << bad;
  }
}

TEST(MetricsServer, ServesFreshMetricsAndOnlyThere) {
  int calls = 0;
  MetricsServer server([&] {
    ++calls;
    StatsJson t = SampleTree();
    t["layers"][0]["hits"] = calls;
    return t;
  });
  MetricsAddress a;
  a.port = 0;
  server.Start(a);
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  auto r1 = client.Get("/metrics");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r1->body.find("s3bd_cache_hits_total 1\n"), std::string::npos);
  auto r2 = client.Get("/metrics");
  ASSERT_TRUE(r2);
  EXPECT_NE(r2->body.find("s3bd_cache_hits_total 2\n"), std::string::npos) << "rendered afresh per scrape";
  auto r3 = client.Get("/other");
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 404);
  server.Stop();
  EXPECT_FALSE(client.Get("/metrics")) << "stopped";
}

TEST(MetricsServer, PortInUseIsAStartupError) {
  MetricsServer first([] { return StatsJson::object(); });
  MetricsAddress a;
  a.port = 0;
  first.Start(a);
  MetricsServer second([] { return StatsJson::object(); });
  a.port = first.port();
  EXPECT_THROW(second.Start(a), StartupError);
}

}  // namespace
}  // namespace s3bd
