// The stats tree of a serving daemon (s3bd/core/stats.h).
#include "s3bd/core/stats.h"

#include "s3bd/core/block_store.h"

namespace s3bd {

namespace {

void RaiseTo(std::atomic<std::uint64_t>& max, std::uint64_t v) {
  std::uint64_t prev = max.load(std::memory_order_relaxed);
  while (v > prev && !max.compare_exchange_weak(prev, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

void FrontendCounters::NoteRead(std::uint64_t bytes) { RaiseTo(largest_read, bytes); }
void FrontendCounters::NoteWrite(std::uint64_t bytes) { RaiseTo(largest_write, bytes); }

StatsJson FrontendCounters::ToJson() const {
  StatsJson j;
  j["largest_read_request"] = largest_read.load();
  j["largest_write_request"] = largest_write.load();
  j["errors_returned"] = errors.load();
  return j;
}

StatsJson MakeStatsTree(const BlockStore& top, bool read_only, std::string_view frontend,
                        StatsJson frontend_section, StatsJson daemon) {
  StatsJson j;
  j["version"] = kStatsVersion;
  const Geometry& g = top.geometry();
  StatsJson& v = j["volume"];
  v["size"] = g.size();
  v["block_size"] = g.block_size;
  v["num_blocks"] = g.num_blocks;
  v["read_only"] = read_only;
  j[std::string(frontend)] = std::move(frontend_section);
  j["daemon"] = std::move(daemon);
  j["layers"] = top.Stats();
  return j;
}

}  // namespace s3bd
