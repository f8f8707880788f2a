// `--metrics-listen [HOST:]PORT`: an HTTP server answering GET /metrics with
// the daemon's stats in Prometheus' text format (prometheus.h), on a thread
// of its own (cpp-httplib). Every scrape renders the stats tree afresh; other
// paths answer 404. HOST defaults to 127.0.0.1: the metrics are reachable
// from another machine only if the option names such an address.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "s3bd/core/stats.h"

namespace httplib {
class Server;
}

namespace s3bd {

struct MetricsAddress {
  std::string host = "127.0.0.1";
  int port = 0;
};
// "9100", "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9100". Throws UsageError
// (naming --metrics-listen) on anything else, or a port outside 1-65535.
MetricsAddress ParseMetricsAddress(const std::string& text);

class MetricsServer {
 public:
  // `stats` is called for every scrape, from the server's thread.
  explicit MetricsServer(std::function<StatsJson()> stats);
  ~MetricsServer();  // stops
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts serving; throws StartupError if the address cannot be
  // bound (in use, not local).
  void Start(const MetricsAddress& address);
  void Stop();
  int port() const { return port_; }  // the bound port

 private:
  std::function<StatsJson()> stats_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> ended_{false};  // the server's loop returned
  int port_ = 0;
};

}  // namespace s3bd
