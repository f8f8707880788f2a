// Stats as data: every layer fills a JSON object (StatsJson keeps the keys in
// the order they were added), and the renderers here turn that one tree into
// the stats file's text. The keys are a stable interface (`s3bd stats --json`,
// the README's "Stats" section documents them): add keys, never rename them.
//
// The tree a serving daemon shows (MakeStatsTree()):
//   {"version": 1, "volume": {...}, FRONT END: {...}, "daemon": {...},
//    "layers": [ {"layer": "cache", "ops": {...}, ...}, ..., {"layer": "s3", ...} ]}
// with the layers from the top down, and FRONT END the name of the front end
// serving the volume ("fuse"), holding its FrontendCounters and its own keys. Each layer object has "layer" (its name), "ops"
// (read, write, zero, flush, list, revalidate: {"ops", "bytes", "errors",
// "avg_ms"}) and the layer's own keys.
#pragma once

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <initializer_list>

#include <nlohmann/json.hpp>

namespace s3bd {

using StatsJson = nlohmann::ordered_json;

// Marks keys of the object `j` as levels, values that go up and down (queue
// lengths, sizes, limits), rather than counts that only grow: `j["gauges"]`
// lists them, and renderers (Prometheus: gauge or counter) go by it. Each
// layer marks its own keys where it fills them.
inline void MarkGauges(StatsJson& j, std::initializer_list<const char*> keys) {
  StatsJson& g = j["gauges"];
  for (const char* k : keys) g.push_back(k);
}

// Bumped only if a key changes meaning or goes away.
inline constexpr int kStatsVersion = 1;

class BlockStore;

// What every front end counts of the requests it serves (thread-safe).
struct FrontendCounters {
  std::atomic<std::uint64_t> largest_read{0}, largest_write{0}, errors{0};
  void NoteRead(std::uint64_t bytes);
  void NoteWrite(std::uint64_t bytes);
  // {"largest_read_request", "largest_write_request", "errors_returned"}
  StatsJson ToJson() const;
};

// The whole tree: the volume's geometry and `read_only`, the front end's
// section (`frontend_section` under the key `frontend`), the daemon's
// (`daemon`: pid, mountpoint, ...) and the stats of `top` and every layer
// below it.
StatsJson MakeStatsTree(const BlockStore& top, bool read_only, std::string_view frontend,
                        StatsJson frontend_section, StatsJson daemon);

// The text of one layer object ("[name]" and its lines).
void RenderLayerText(std::ostream& os, const StatsJson& layer);
// The whole stats file's text from a tree of the form above (any front end's
// section: its counters, then its own keys).
std::string RenderStatsText(const StatsJson& stats);

// Parts of a layer's text, for the layers' own Print() conveniences.
void RenderS3RequestsText(std::ostream& os, const StatsJson& s3);  // "requests", "bytes", ... lines
void RenderOutageText(std::ostream& os, const StatsJson& outage);  // the "outage" line

}  // namespace s3bd
