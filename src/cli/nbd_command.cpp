// `s3bd nbd`: the NBD server (nbd/nbd_server.h) in the daemon's life cycle
// (serve.h: fork, stack, lease, fence, survey, status file, final flush,
// exit status, all as for `s3bd mount`). What is its own:
//   - before anything else, the listening address is checked (the CLI has
//     refused a non-loopback --listen without --allow-remote); the daemon
//     listens once it holds the lease, so no client connects before;
//   - the lease and the status file name the server "nbd:unix:PATH" or
//     "nbd:tcp:HOST:PORT" instead of a mount point;
//   - SIGINT, SIGTERM or SIGHUP stops it: it stops accepting and removes
//     its Unix socket, the requests already read are finished (those
//     waiting for an unreachable store give up within --max-retry-time),
//     every connection is closed, and the final flush follows;
//   - --stats-json PATH: the stats tree (as `s3bd stats --json` prints a
//     mount's, with an "nbd" section instead of "fuse") is rewritten to
//     PATH (atomically, mode 0600) every second while serving, and once
//     more at exit after the final flush.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/cli/nbd_command.h"

#include "s3bd/cli/daemon_status.h"
#include "s3bd/cli/serve.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/stats.h"
#include "s3bd/nbd/nbd_listener.h"
#include "s3bd/nbd/nbd_server.h"

namespace s3bd {

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
int g_stop_pipe = -1;  // write end, while Run() runs

void OnStopSignal(int) {
  const int saved = errno;
  const char c = 1;
  if (g_stop_pipe >= 0) (void)!::write(g_stop_pipe, &c, 1);
  errno = saved;
}


std::string Where(const nbd::ListenAddress& a) {
  return a.unix_socket ? "nbd:unix:" + a.path : "nbd:tcp:" + a.ToString();
}

class NbdServed : public ServedFrontend {
 public:
  NbdServed(ServeContext& context, const NbdConfig& config)
      : volume_(context.volume),
        config_(config),
        status_file_(context.status_file),
        server_(context.volume, Options(context, config)) {}

  ~NbdServed() override {
    // After the final flush (the daemon's life cycle ends after this): the
    // last stats show what was stored.
    WriteStats();
  }

  void Start() override {
    listener_ = std::make_unique<nbd::Listener>(config_.address);
    if (!config_.stats_json.empty() && !WriteStats()) {
      throw StartupError(fmt::format("cannot write --stats-json {}: {}", config_.stats_json, std::strerror(errno)));
    }
  }

  void Run(std::function<void()> on_stop) override {
    // As for the FUSE mount: a shell starts background jobs with SIGINT
    // ignored, and SIGINT/SIGTERM must always stop cleanly. (SIGHUP stays
    // ignored under nohup.)
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw StartupError("pipe: " + std::string(std::strerror(errno)));
    std::thread watcher([this, fd = pipe_fds[0], on_stop = std::move(on_stop)] {
      char c;
      ssize_t n;
      while ((n = ::read(fd, &c, 1)) < 0 && errno == EINTR) {
      }
      if (n == 1) {  // n == 0: Run() is ending
        spdlog::info("stopping: no new connections; finishing the requests in flight");
        if (on_stop) on_stop();
        server_.Shutdown();
      }
      ::close(fd);
    });
    g_stop_pipe = pipe_fds[1];
    struct sigaction old_action[NSIG] = {};
    bool installed[NSIG] = {};
    for (int sig : kStopSignals) {
      ::sigaction(sig, nullptr, &old_action[sig]);
      if (old_action[sig].sa_handler == SIG_IGN) continue;
      struct sigaction ours {};
      ours.sa_handler = OnStopSignal;
      ours.sa_flags = SA_RESTART;
      sigemptyset(&ours.sa_mask);
      ::sigaction(sig, &ours, nullptr);
      installed[sig] = true;
    }
    std::thread stats;
    if (!config_.stats_json.empty()) {
      stats = std::thread([this] {
        std::unique_lock lock(stats_mu_);
        while (!stats_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stats_done_; })) {
          lock.unlock();
          WriteStats();
          lock.lock();
        }
      });
    }
    listener_->Run(server_);  // until server_.Shutdown(), and every connection ended
    {
      std::lock_guard lock(stats_mu_);
      stats_done_ = true;
    }
    stats_cv_.notify_all();
    if (stats.joinable()) stats.join();
    for (int sig : kStopSignals) {
      if (installed[sig]) ::sigaction(sig, &old_action[sig], nullptr);
    }
    g_stop_pipe = -1;
    ::close(pipe_fds[1]);
    watcher.join();
    const StatsJson s = server_.Stats();
    spdlog::info("NBD server stopped: {} connections, {} reads, {} writes, {} flushes, {} errors returned",
                 s["connections"].get<std::uint64_t>(), s["requests"]["read"]["ops"].get<std::uint64_t>(),
                 s["requests"]["write"]["ops"].get<std::uint64_t>(),
                 s["requests"]["flush"]["ops"].get<std::uint64_t>(), s["errors_returned"].get<std::uint64_t>());
  }

 private:
  static nbd::ServerOptions Options(const ServeContext& context, const NbdConfig& config) {
    nbd::ServerOptions o;
    o.export_name = config.export_name;
    o.description = "s3bd volume";
    o.read_only = context.read_only;
    return o;
  }

  StatsJson Stats() const override {
    StatsJson n = server_.Stats();
    n["address"] = config_.address.ToString();
    n["uri"] = config_.address.Uri(config_.export_name);
    StatsJson d;
    d["pid"] = static_cast<long>(::getpid());
    d["address"] = config_.address.ToString();
    if (!status_file_.empty()) d["status_file"] = status_file_;
    return MakeStatsTree(volume_.store(), server_.options().read_only, "nbd", std::move(n), std::move(d));
  }

  bool WriteStats() {
    if (config_.stats_json.empty()) return true;
    if (WriteFileAtomically(config_.stats_json, Stats().dump(2) + "\n")) return true;
    if (!stats_warned_.exchange(true)) {
      spdlog::warn("cannot write --stats-json {}: {}", config_.stats_json, std::strerror(errno));
    }
    return false;
  }

  Volume& volume_;
  const NbdConfig& config_;
  std::string status_file_;
  nbd::Server server_;
  std::unique_ptr<nbd::Listener> listener_;
  std::mutex stats_mu_;
  std::condition_variable stats_cv_;
  bool stats_done_ = false;
  std::atomic<bool> stats_warned_{false};
};

// What needs no store: the socket's directory exists, and nothing but a
// socket is at its path (Listener decides about a socket there).
void CheckAddress(const NbdConfig& config) {
  if (!config.address.unix_socket) return;
  const std::string& path = config.address.path;
  const std::string dir = path.substr(0, path.rfind('/'));
  struct stat st;
  if (!dir.empty() && (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
    throw StartupError(fmt::format("--socket {}: the directory {} does not exist", path, dir));
  }
  if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    throw StartupError(fmt::format("--socket {}: the path exists and is not a socket", path));
  }
}

}  // namespace

int RunNbd(StoreConfig store, NbdConfig nbd, DaemonConfig daemon) {
  daemon.where = Where(nbd.address);
  daemon.live_state = "serving";
  daemon.live_text = "served over NBD at " + nbd.address.Uri(nbd.export_name);
  daemon.stopped_text = "NBD server on " + nbd.address.ToString() + " stopped";
  daemon.no_syslog_hint = "use --log-file PATH, or --foreground";
  return ServeVolume(std::move(store), daemon, [&nbd] { CheckAddress(nbd); },
                     [&nbd](ServeContext& context) { return std::make_unique<NbdServed>(context, nbd); });
}

}  // namespace s3bd
