// `s3bd nbd STORE (--socket PATH | --listen HOST:PORT) [options]`: the
// volume served over NBD, in the daemon's life cycle of serve.h; see
// nbd_command.cpp.
#pragma once

#include <string>

#include "s3bd/cli/serve.h"
#include "s3bd/core/config.h"
#include "s3bd/nbd/nbd_listener.h"

namespace s3bd {

struct NbdConfig {
  nbd::ListenAddress address;  // --socket (absolute) or --listen (checked: loopback unless --allow-remote)
  std::string export_name;     // --export-name
  std::string stats_json;      // --stats-json, absolute; "" for none
};

// Serves until SIGINT/SIGTERM/SIGHUP; returns the exit status as RunMount
// does (0 only if everything was stored at the end).
int RunNbd(StoreConfig store, NbdConfig nbd, DaemonConfig daemon);

}  // namespace s3bd
