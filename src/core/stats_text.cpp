// The stats file's text, rendered from the stats tree (s3bd/core/stats.h):
// the one place that knows how each layer's keys read to a person. The
// layers only fill in the tree.
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "s3bd/core/geometry.h"
#include "s3bd/core/stats.h"

namespace s3bd {

namespace {

std::uint64_t U(const StatsJson& j, const char* key) { return j.value(key, std::uint64_t{0}); }
double D(const StatsJson& j, const char* key) { return j.value(key, 0.0); }

void RenderOp(std::ostream& os, const StatsJson& op, const char* name) {
  os << fmt::format("  {:<8} {:>12} ops {:>16} bytes {:>10} errors {:>10.3f} ms avg\n", name, U(op, "ops"),
                    U(op, "bytes"), U(op, "errors"), D(op, "avg_ms"));
}

void RenderCacheFile(std::ostream& os, const StatsJson& f) {
  os << fmt::format("  cache file        {}: {} slots, {} free, {} shadows{}\n", f.value("path", ""), U(f, "slots"),
                    U(f, "free_slots"), U(f, "shadows"), f.value("failed", false) ? ", FAILED" : "")
     << fmt::format("  journal           {} blocks written, {} marked clean, {} syncs, {} shadows freed\n",
                    U(f, "journal_blocks_written"), U(f, "journal_marked_clean"), U(f, "journal_syncs"),
                    U(f, "shadows_freed"))
     << fmt::format("  recovered         {} unsaved and {} clean blocks, {} stale entries discarded\n",
                    U(f, "recovered_unsaved"), U(f, "recovered_clean"), U(f, "stale_entries_discarded"));
}

void RenderCache(std::ostream& os, const StatsJson& j) {
  const std::uint64_t hits = U(j, "hits"), misses = U(j, "misses");
  const std::uint64_t lookups = hits + misses;
  os << fmt::format("  cached blocks     {} of {} ({} clean in LRU)\n", U(j, "cached_blocks"),
                    U(j, "capacity_blocks"), U(j, "clean_in_lru"))
     << fmt::format("  in memory         {} blocks (limit {})\n", U(j, "memory_blocks"), U(j, "memory_limit_blocks"))
     << fmt::format("  hits / misses     {} / {} ({:.1f}% hits)\n", hits, misses,
                    lookups ? 100.0 * static_cast<double>(hits) / static_cast<double>(lookups) : 0.0)
     << fmt::format("  reuse             {} seen once, {} used again; hits {} / {}; {} came back after eviction\n",
                    U(j, "seen_once"), U(j, "used_again"), U(j, "hits_seen_once"), U(j, "hits_used_again"),
                    U(j, "came_back_after_eviction"))
     << fmt::format("  read-ahead        {} issued, {} hits (window up to {} blocks); {} skipped (evicted unread "
                    "before), {} dropped (passed by the reader)\n",
                    U(j, "read_ahead_issued"), U(j, "read_ahead_hits"), U(j, "read_ahead_max_window"),
                    U(j, "read_ahead_skipped_unread_before"), U(j, "read_ahead_dropped"))
     << fmt::format("  dirty blocks      {} (limit {}), oldest {:.1f} s\n", U(j, "dirty_blocks"),
                    U(j, "dirty_limit"), D(j, "oldest_dirty_s"))
     << fmt::format("  upload queue      {}\n", U(j, "upload_queue"))
     << fmt::format("  uploads           {} ok, {} failed, {} again after a rewrite\n", U(j, "uploads_ok"),
                    U(j, "uploads_failed"), U(j, "reuploads"))
     << fmt::format("  coalesced writes  {}\n", U(j, "coalesced_writes"))
     << fmt::format("  hot blocks        {} dirty with a longer delay; {} heat-ups\n", U(j, "hot_blocks"),
                    U(j, "heat_ups"))
     << fmt::format("  back-pressure     {} waits\n", U(j, "backpressure_waits"))
     << fmt::format("  reads first       uploads held back {} times (at most {} run while a read waits)\n",
                    U(j, "uploads_held_for_reads"), U(j, "uploads_while_read_waits"))
     << fmt::format("  evictions         {}\n", U(j, "evictions"));
  if (j.contains("cache_file")) {
    const StatsJson& f = j["cache_file"];
    os << fmt::format("  durable fsync     {}\n",
                      f.value("durable", false) ? "in the cache file (--durable-cache)" : "in the store")
       << fmt::format("  revalidated       {} unchanged, {} changed; {} recovered blocks uploaded first\n",
                      U(f, "revalidated_unchanged"), U(f, "revalidated_changed"), U(f, "recovered_uploaded_first"))
       << fmt::format("  slot waits        {}; {} blocks to mark clean ({} store flush failures); "
                      "{} loads kept in memory only\n",
                      U(f, "slot_waits"), U(f, "to_mark_clean"), U(f, "mark_failures"), U(f, "memory_only_loads"));
    os << fmt::format("  file tier         {} reads served from the file, {} blocks moved out of memory\n",
                      U(f, "file_hits"), U(f, "moved_to_file_only"));
    RenderCacheFile(os, f);
  }
}

void RenderGuard(std::ostream& os, const StatsJson& j) {
  os << fmt::format("  remembered MD5s   {} (limit {})\n", U(j, "remembered_md5s"), U(j, "remembered_md5s_limit"))
     << fmt::format("  stale reads       {} retried, {} failed\n", U(j, "stale_reads_retried"),
                    U(j, "stale_reads_failed"))
     << fmt::format("  delayed writes    {}\n", U(j, "delayed_writes"))
     << fmt::format("  full-cache waits  {}\n", U(j, "full_cache_waits"));
}

void RenderS3(std::ostream& os, const StatsJson& j) {
  os << "  " << j.value("location", "") << "\n";
  RenderS3RequestsText(os, j);
  if (j.contains("outage")) RenderOutageText(os, j["outage"]);
}

void RenderMap(std::ostream& os, const StatsJson& j) {
  const std::string survey = j.value("survey", "");
  os << fmt::format("  survey            {}", survey);
  if (survey == "done") os << fmt::format(" in {:.1f} s", D(j, "survey_s"));
  os << fmt::format(" ({} blocks surveyed)\n", U(j, "surveyed_blocks"))
     << fmt::format("  source            {}\n", j.value("source", ""))
     << fmt::format("  blocks            {} may hold data, {} known absent, {} unknown\n", U(j, "known_present"),
                    U(j, "known_absent"), U(j, "unknown"))
     << fmt::format("  requests saved    {} reads, {} zeros\n", U(j, "reads_saved"), U(j, "zeros_saved"));
}

}  // namespace

void RenderS3RequestsText(std::ostream& os, const StatsJson& j) {
  const std::uint64_t total = U(j, "total_requests");
  os << "  requests";
  for (const auto& [kind, n] : j["requests"].items()) os << fmt::format(" {}={}", kind, n.get<std::uint64_t>());
  os << "\n";
  os << fmt::format("  bytes sent {} received {}\n", U(j, "bytes_sent"), U(j, "bytes_received"));
  os << fmt::format("  latency avg {:.2f} ms p99 {:.2f} ms\n", D(j, "latency_avg_ms"), D(j, "latency_p99_ms"));
  os << fmt::format("  retries {}", U(j, "retries"));
  for (const auto& [cls, n] : j["retries_by_class"].items()) {
    if (n.get<std::uint64_t>() != 0) os << fmt::format(" {}={}", cls, n.get<std::uint64_t>());
  }
  os << "\n";
  os << "  errors";
  for (const auto& [cls, n] : j["errors"].items()) os << fmt::format(" {}={}", cls, n.get<std::uint64_t>());
  os << "\n";
  const std::uint64_t reused = U(j, "reused_connections");
  os << fmt::format("  connection reuse {:.1f}% ({} of {} requests)\n",
                    total ? 100.0 * static_cast<double>(reused) / static_cast<double>(total) : 0.0, reused, total);
}

void RenderOutageText(std::ostream& os, const StatsJson& j) {
  if (!j.value("failing", false)) {
    os << fmt::format("  outage            none ({} so far)\n", U(j, "outages"));
    return;
  }
  os << fmt::format("  outage            failing for {:.1f} s, {} retries, {} requests waiting: {}\n",
                    D(j, "failing_for_s"), U(j, "retries"), U(j, "requests_waiting"), j.value("reason", ""));
}

namespace {

void RenderCodec(std::ostream& os, const StatsJson& j) {
  const StatsJson e = j.value("encoded", StatsJson::object()), d = j.value("decoded", StatsJson::object());
  os << fmt::format("  compression       {} (ratio {:.2f} of what was encoded)\n", j.value("compression", "none"),
                    D(j, "compression_ratio"))
     << fmt::format("  encryption        {}\n", j.value("encryption", "none"))
     << fmt::format("  encoded           {} blocks, {} bytes -> {} bytes ({} raw, {} deflate, {} zstd) in {:.3f} s\n",
                    U(e, "blocks"), U(e, "bytes_in"), U(e, "bytes_out"), U(e, "raw"), U(e, "deflate"), U(e, "zstd"),
                    D(e, "seconds"))
     << fmt::format("  decoded           {} blocks, {} bytes -> {} bytes in {:.3f} s\n", U(d, "blocks"),
                    U(d, "bytes_in"), U(d, "bytes_out"), D(d, "seconds"))
     << fmt::format("  failed            {} corrupt, {} failed authentication\n", U(j, "corrupt"),
                    U(j, "auth_failures"));
}

}  // namespace

void RenderLayerText(std::ostream& os, const StatsJson& layer) {
  const std::string name = layer.value("layer", "");
  os << "[" << name << "]\n";
  if (layer.contains("ops")) {
    const StatsJson& ops = layer["ops"];
    for (const char* op : {"read", "write", "zero", "flush", "list"}) {
      if (ops.contains(op)) RenderOp(os, ops[op], op);
    }
    // Only stacks with a cache file revalidate blocks.
    if (ops.contains("revalidate") && U(ops["revalidate"], "ops") != 0) RenderOp(os, ops["revalidate"], "revalid");
  }
  if (name == "cache") {
    RenderCache(os, layer);
  } else if (name == "guard") {
    RenderGuard(os, layer);
  } else if (name == "s3") {
    RenderS3(os, layer);
    for (const char* key : {"upload_limit", "download_limit"}) {
      if (!layer.contains(key)) continue;
      const StatsJson& l = layer[key];
      os << fmt::format("  {:<17} {}/s: {} bytes, {} waits ({:.1f} s), {} waiting\n",
                        key == std::string_view("upload_limit") ? "upload limit" : "download limit",
                        FormatSize(U(l, "limit_bytes_per_s")), U(l, "bytes"), U(l, "waits"), D(l, "waited_s"),
                        U(l, "waiting"));
    }
  } else if (name == "codec") {
    RenderCodec(os, layer);
  } else if (name == "map") {
    RenderMap(os, layer);
  } else if (name == "faults") {
    os << fmt::format("  injected faults {}\n", U(layer, "injected_faults"));
  } else if (name == "cache file") {
    RenderCacheFile(os, layer["cache_file"]);
  }
}

std::string RenderStatsText(const StatsJson& stats) {
  std::ostringstream os;
  if (stats.contains("volume")) {
    const StatsJson& v = stats["volume"];
    os << "[volume]\n"
       << fmt::format("  size {} ({} blocks of {})\n", FormatSize(U(v, "size")), U(v, "num_blocks"),
                      FormatSize(U(v, "block_size")));
  }
  // The front end's section: every object beside the volume, the daemon
  // and the layers.
  for (const auto& [key, f] : stats.items()) {
    if (key == "volume" || key == "daemon" || key == "layers" || !f.is_object()) continue;
    os << "[" << key << "]\n"
       << fmt::format("  largest read request  {} bytes\n", U(f, "largest_read_request"))
       << fmt::format("  largest write request {} bytes\n", U(f, "largest_write_request"))
       << fmt::format("  errors returned       {}\n", U(f, "errors_returned"));
    for (const auto& [k, value] : f.items()) {
      if (k == "largest_read_request" || k == "largest_write_request" || k == "errors_returned") continue;
      os << fmt::format("  {:<21} {}\n", k, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  if (stats.contains("layers")) {
    for (const StatsJson& layer : stats["layers"]) RenderLayerText(os, layer);
  }
  return os.str();
}

}  // namespace s3bd
