// The stats tree (s3bd/core/stats.h) in Prometheus' text exposition format
// (version 0.0.4), for `--metrics-listen` (metrics_server.h).
//
// Names and types, all prefixed "s3bd_" (README, "Metrics", lists them):
//  - s3bd_volume_size_bytes, s3bd_volume_block_size_bytes,
//    s3bd_volume_read_only (gauges);
//  - s3bd_frontend_errors_total{frontend}, s3bd_frontend_largest_read_bytes
//    and ..._largest_write_bytes{frontend};
//  - per layer and operation: s3bd_layer_operations_total,
//    s3bd_layer_bytes_total, s3bd_layer_errors_total and
//    s3bd_layer_duration_seconds_total{layer, op};
//  - each layer's own numbers as s3bd_LAYER_KEY (layer and key in
//    snake_case; objects inside a layer add their key: s3bd_cache_file_...):
//    booleans and the levels of kGauges are gauges (a key ending "_s" in
//    seconds becomes ..._seconds); every other number counts up and is a
//    counter named ..._total;
//  - the S3 layer's request counts by kind (s3bd_s3_requests_total{kind}),
//    errors and retries by class ({class}), and its attempts' latency as
//    the histogram s3bd_s3_request_duration_seconds.
// Strings (paths, reasons) are left out; so are averages and percentiles,
// which Prometheus derives from the sums and histograms.
#pragma once

#include <string>

#include "s3bd/core/stats.h"

namespace s3bd {

std::string RenderPrometheus(const StatsJson& stats);

}  // namespace s3bd
