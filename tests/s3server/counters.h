// counters.h - lock-free statistics of the s3bd test S3 server, served as
// JSON by GET /_control/counters: requests by kind, responses by status
// class, request/response body bytes, and injected faults by type.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "faults.h"
#include "store.h"

namespace s3server {

enum class Kind {
  GetObject,
  HeadObject,
  PutObject,
  CopyObject,
  DeleteObject,
  DeleteObjects,
  ListObjectsV1,
  ListObjectsV2,
  ListBuckets,
  CreateBucket,
  DeleteBucket,
  HeadBucket,
  GetBucketLocation,
  Other,
};
constexpr size_t kNumKinds = 14;
const char *kind_name(Kind k);

// Fault counters beyond the Fault enum.
enum class ExtraFault { Outage, AccessDenied, InvalidAccessKey };
constexpr size_t kNumExtraFaults = 3;

struct Counters {
  std::array<std::atomic<uint64_t>, kNumKinds> requests{};
  std::array<std::atomic<uint64_t>, 6> status_class{};  // index status/100
  std::array<std::atomic<uint64_t>, kNumFaults> faults{};
  std::array<std::atomic<uint64_t>, kNumExtraFaults> extra_faults{};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};

  void count(Kind k) { ++requests[static_cast<size_t>(k)]; }
  void count(Fault f) { ++faults[static_cast<size_t>(f)]; }
  void count(ExtraFault f) { ++extra_faults[static_cast<size_t>(f)]; }
  void count_status(int status);
  void reset();
  std::string to_json(const StoreStats &stats) const;
};

}  // namespace s3server
