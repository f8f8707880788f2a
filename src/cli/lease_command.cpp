// `s3bd unlock STORE`: removes the lease of a volume (lease.h) left by a
// mount that did not unmount cleanly, after printing whose it was. A lease
// still being renewed (not expired, not unclean, not a dead process of this
// host) is refused unless --force. A directory store's lease is held with its
// flock: while it is mounted read-write, unlock cannot open it.
#include <cstdio>

#include <fmt/format.h>

#include "s3bd/cli/cli.h"
#include "s3bd/cli/logging.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/stack.h"
#include "s3bd/volume/lease.h"

namespace s3bd {

int RunUnlock(const StoreConfig& store, bool force) {
  try {
    SetupLogging("warn", LogTo::kStderr);
    auto meta = OpenVolume(store).meta;
    LeaseOptions o = DefaultLeaseOptions();
    o.url = store.url;
    bool found = false;
    const std::string line = RemoveLease(*meta, o, force, &found);
    std::printf("%s\n", line.c_str());
    return 0;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

}  // namespace s3bd
