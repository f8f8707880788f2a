// The daemon's life cycle, shared by the front ends that serve a volume
// (`s3bd mount`: FUSE; `s3bd nbd`: NBD). See serve.cpp for the steps: fork
// unless --foreground, build the stack, take the lease (read-write), load
// the saved block map, open the fence, survey, go live, keep the status file,
// serve; at the stop upload everything, save the map, end the lease, and
// exit 1 if the final flush failed.
//
// A front end plugs in through ServedFrontend: how it goes live and how it
// serves until it is asked to stop. Everything else is here, once.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "s3bd/core/config.h"
#include "s3bd/core/stack.h"
#include "s3bd/metrics/metrics_server.h"
#include "s3bd/volume/volume.h"

namespace s3bd {

class ServedFrontend {
 public:
  virtual ~ServedFrontend() = default;
  // Goes live: mounts, or listens. Throws StartupError.
  virtual void Start() = 0;
  // The stats tree (core/stats.h) with the front end's section; any thread.
  virtual StatsJson Stats() const = 0;
  // Serves until stopped (unmounted; SIGINT/SIGTERM/SIGHUP). Calls
  // `on_stop` once, on a thread of its own, as soon as a stop signal comes:
  // before the requests still being served have ended (so that it can make
  // them give up). Returns once no request is being served.
  virtual void Run(std::function<void()> on_stop) = 0;
};

// What a front end is built from, once the stack is ready (and before
// Start()).
struct ServeContext {
  Volume& volume;
  Stack& stack;
  bool read_only;
  std::string status_file;  // the daemon's status file (daemon_status.h)
};

// The daemon's configuration: what the command line says (the first
// block, filled by the CLI), and the front end's words (the second, filled
// by the command that runs the front end).
struct DaemonConfig {
  bool foreground = false;        // -f
  std::string log_level = "info";
  std::string log_file;           // --log-file (absolute), once detached
  std::optional<MetricsAddress> metrics;  // --metrics-listen


  // Where the volume is served: the mount point, or "nbd:unix:PATH" /
  // "nbd:tcp:HOST:PORT". The lease records it; the status file is named for it.
  std::string where;
  std::string live_state = "mounted";   // the status file's state while serving
  std::string live_text;                // logged as "URL <live_text>"
  std::string stopped_text;             // "<stopped_text>; all data flushed to the store"
  std::string no_syslog_hint = "use --log-file PATH or s3bd unmount";
};

using FrontendFactory = std::function<std::unique_ptr<ServedFrontend>(ServeContext& context)>;

// Runs the daemon; returns the exit status (0, 1 if anything failed or was
// not stored, 2 for bad usage found at start-up). `precheck` runs first,
// before any fork (it checks what needs no store and throws StartupError).
// `store` has been through ResolveStoreUrl().
int ServeVolume(StoreConfig store, const DaemonConfig& daemon, const std::function<void()>& precheck,
                const FrontendFactory& make_frontend);

// What is mounted on `dir` itself, the topmost mount ("fuse.s3bd s3bd":
// type and source), if anything.
std::optional<std::string> MountedOn(const std::string& dir);

}  // namespace s3bd
