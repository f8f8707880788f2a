// Stats as data: every layer fills a JSON object (StatsJson keeps the keys in
// the order they were added), and the renderers here turn that one tree into
// the stats file's text. The keys are a stable interface (`s3bd stats --json`,
// the README's "Stats" section documents them): add keys, never rename them.
//
// The tree a mount serves (FuseFrontend::Stats()):
//   {"version": 1, "volume": {...}, "fuse": {...}, "daemon": {...},
//    "layers": [ {"layer": "cache", "ops": {...}, ...}, ..., {"layer": "s3", ...} ]}
// from the top layer down. Each layer object has "layer" (its name), "ops"
// (read, write, zero, flush, list, revalidate: {"ops", "bytes", "errors",
// "avg_ms"}) and the layer's own keys.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace s3bd {

using StatsJson = nlohmann::ordered_json;

// Bumped only if a key changes meaning or goes away.
inline constexpr int kStatsVersion = 1;

// The text of one layer object ("[name]" and its lines).
void RenderLayerText(std::ostream& os, const StatsJson& layer);
// The whole stats file's text from a tree of the form above.
std::string RenderStatsText(const StatsJson& stats);

// Parts of a layer's text, for the layers' own Print() conveniences.
void RenderS3RequestsText(std::ostream& os, const StatsJson& s3);  // "requests", "bytes", ... lines
void RenderOutageText(std::ostream& os, const StatsJson& outage);  // the "outage" line

}  // namespace s3bd
