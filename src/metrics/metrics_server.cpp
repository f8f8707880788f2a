// The /metrics HTTP endpoint; see the header.
#include "s3bd/metrics/metrics_server.h"

#include <httplib.h>

#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/metrics/prometheus.h"

namespace s3bd {

MetricsAddress ParseMetricsAddress(const std::string& text) {
  MetricsAddress a;
  std::string port = text;
  if (!text.empty() && text[0] == '[') {  // [IPv6]:PORT
    const auto close = text.find("]:");
    if (close == std::string::npos) throw UsageError("--metrics-listen: expected [ADDRESS]:PORT, not '" + text + "'");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (a.host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 ||
      p > 65535) {
    throw UsageError("--metrics-listen: expected [HOST:]PORT with a port of 1-65535, not '" + text + "'");
  }
  a.port = p;
  return a;
}

MetricsServer::MetricsServer(std::function<StatsJson()> stats)
    : stats_(std::move(stats)), server_(std::make_unique<httplib::Server>()) {
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, with
  // which a second daemon on the same port would share it silently.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    (void)::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(RenderPrometheus(stats_()), "text/plain; version=0.0.4; charset=utf-8");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("cannot render the metrics: ") + e.what() + "\n", "text/plain");
    }
  });
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Start(const MetricsAddress& address) {
  // Port 0 (tests only: the option refuses it) takes any free port.
  const int bound = address.port == 0 ? server_->bind_to_any_port(address.host) : address.port;
  if (bound <= 0 || (address.port != 0 && !server_->bind_to_port(address.host, address.port))) {
    throw StartupError(fmt::format("--metrics-listen: cannot listen on {}:{} (in use, or not an address of this "
                                   "machine)",
                                   address.host, address.port));
  }
  port_ = bound;
  ended_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    ended_ = true;
  });
  // Until the loop runs, stop() would be lost (and Stop() wait forever).
  while (!server_->is_running() && !ended_) std::this_thread::yield();
  spdlog::info("metrics: serving http://{}:{}/metrics", address.host, port_);
}

void MetricsServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace s3bd
