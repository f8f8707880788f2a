// RetryLimit: how long requests to a server are retried; set on a running
// stack through BlockStore::SetRetryLimit (block_store.h).
#pragma once

#include <chrono>
#include <optional>

namespace s3bd {

// How long a store that talks to a server keeps retrying a request that
// fails in a way that may heal (unreachable, timed out, 5xx, throttled).
// Without either field: for its retry budget (--max-retry-time), then the
// request fails (EIO at the FUSE file).
struct RetryLimit {
  // Until the server answers, however long that takes (--hard, once the
  // mount is live): I/O waits through an outage instead of failing.
  bool until_answered = false;
  // If set, no failed request is retried after this time, and no pause or
  // retry lasts past it, whatever the above says: a stopping daemon gives
  // up on an unreachable store by then. First attempts are not limited, so
  // a long final flush to a store that answers is never cut short.
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
};

}  // namespace s3bd
