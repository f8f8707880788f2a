// The daemon's life cycle, for every front end (`s3bd mount`, `s3bd nbd`).
//
//   1. check the arguments that need no store (the front end's precheck:
//      the mount point, the listening address);
//   2. unless --foreground, fork: the parent waits on a pipe and exits with
//      0 once the child reports the volume live, or with the child's exit
//      status if it fails first (its error went to the shared stderr);
//   3. the child opens the store, builds the stack, takes the volume's
//      lease if read-write (lease.h: refused if another daemon holds it; a
//      read-only one says so if a writer holds it), loads the block map
//      saved in the cache file if the lease vouches for it and forgets it
//      there (map/block_map.h, S2 and S4), opens the stack's fence, starts
//      the block map's survey unless it was loaded, goes live (mounts, or
//      listens), records the geometry of a new volume, reports success,
//      detaches (stdio to /dev/null, logs to --log-file or syslog) and
//      serves requests while a thread renews the lease (a lost lease fences
//      the daemon: no more uploads, EIO for writes and flushes);
//   4. when it stops (unmounted; SIGINT/SIGTERM/SIGHUP) it marks the lease
//      `flushing`, uploads everything (also with --durable-cache), and
//      then, with a cache file, saves the block map in it and leaves the
//      lease as a `released` record (S1), else deletes the lease; or, if the
//      upload failed, marks the lease `unclean` with the reason; the exit
//      status is 1 if the upload failed. From the moment it is asked to
//      stop, failing requests give up within one --max-retry-time (even
//      with --hard), so a stop ends; what was not stored stays in the cache
//      file, if any.
//
// Throughout, the daemon keeps its status file (cli/daemon_status.h) up to
// date: "mounted" (or the front end's live state), "flushing" with the
// blocks left, then "done" with the exit status, which is how `s3bd
// unmount` waits for the final flush.
#include "s3bd/cli/serve.h"

#include "s3bd/cli/sd_notify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/cli/daemon_status.h"
#include "s3bd/cli/logging.h"
#include "s3bd/core/errors.h"
#include "s3bd/volume/fenced_store.h"
#include "s3bd/volume/lease.h"

namespace s3bd {

namespace {

// A path of /proc/self/mountinfo: space, tab, newline and backslash are
// written as octal escapes (\040, \011, \012, \134).
std::string UnescapeMountinfo(const std::string& s) {
  std::string out;
  const auto octal = [](char c) { return c >= '0' && c <= '7'; };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Whether the daemon of a lease of this host still serves `where` (its
// record's mountpoint): a FUSE mount is still mounted; an NBD server's
// Unix socket still exists (it is removed as soon as the server stops, before
// its final flush); of a TCP server nothing can be told, so it counts as
// serving (its lease is then judged by its pid and expiry alone).
bool StillServed(const std::string& where) {
  if (where.rfind("nbd:unix:", 0) == 0) {
    struct stat st;
    return ::lstat(where.c_str() + 9, &st) == 0 && S_ISSOCK(st.st_mode);
  }
  if (where.rfind("nbd:", 0) == 0) return true;
  const auto what = MountedOn(where);
  return what && what->rfind("fuse", 0) == 0;
}

// Forks. In the parent, waits for the child's report and returns the exit
// status to use; in the child returns -1 and sets `notify_fd`.
int ForkAndWait(int& notify_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw StartupError("pipe: " + std::string(std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid < 0) throw StartupError("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    // The child keeps the terminal until it detaches (Detach calls
    // setsid): start-up may ask for a passphrase on it, and Ctrl-C there
    // still stops a daemon that is starting.
    ::close(fds[0]);
    notify_fd = fds[1];
    return -1;
  }
  ::close(fds[1]);
  char c = 0;
  ssize_t n;
  do {
    n = ::read(fds[0], &c, 1);
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  if (n == 1) return 0;  // live; the child goes on alone
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status) ? WEXITSTATUS(status) : 1;
  PrintError("the daemon died during start-up");
  return 1;
}

void Detach(int notify_fd, const DaemonConfig& daemon) {
  // Said while the caller still waits for us, so it is on the terminal.
  if (daemon.log_file.empty() && !SyslogAvailable()) {
    std::fprintf(stderr,
                 "s3bd: warning: syslog is unavailable (no /dev/log): the daemon's messages, including a "
                 "failed final flush, will be lost; %s\n",
                 daemon.no_syslog_hint.c_str());
  }
  const char ok = 1;
  (void)!::write(notify_fd, &ok, 1);
  ::close(notify_fd);
  ::setsid();  // no longer in the terminal's session: its hangup or Ctrl-C is not ours
  const int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
  if (::chdir("/") != 0) {
    // Every path in use is absolute; nothing depends on the directory.
  }
  if (daemon.log_file.empty()) {
    SetupLogging(daemon.log_level, LogTo::kSyslog);
  } else {
    SetupLogging(daemon.log_level, LogTo::kFile, daemon.log_file);
  }
}

// S3BD_TEST_LEASE="TTL,RENEW" (seconds): short lease times for the tests.
void ApplyTestLeaseTimes(LeaseOptions& o) {
  const char* v = std::getenv("S3BD_TEST_LEASE");
  if (!v || !*v) return;
  unsigned ttl = 0, renew = 0;
  if (std::sscanf(v, "%u,%u", &ttl, &renew) == 2 && ttl > 0 && renew > 0) {
    o.ttl = std::chrono::seconds(ttl);
    o.renew_every = std::chrono::seconds(renew);
    o.wait_poll = std::chrono::milliseconds(200);
  }
}

LeaseOptions DaemonLeaseOptions(const StoreConfig& store, const Stack& stack, const std::string& where) {
  LeaseOptions o = DefaultLeaseOptions();
  o.url = store.url;
  o.mountpoint = where;
  o.still_mounted = StillServed;
  o.cache_file_id = stack.cache_file_id;
  o.cache_file = stack.cache_file;
  o.exclusive_already = !store.is_s3;  // the directory's flock
  o.foreign_flag = stack.foreign_flag;
  ApplyTestLeaseTimes(o);
  return o;
}

// A read-only daemon beside a writer: one line.
void SayIfWriterHoldsLease(const StoreConfig& store, Stack& stack, const std::string& where) {
  std::string text, version, why;
  LeaseRecord r;
  if (stack.meta->ReadMeta(kLeaseKey, text, &version) || DecodeLease(text, &r, &why)) return;
  const LeaseOptions o = DaemonLeaseOptions(store, stack, where);
  if (o.now() >= r.expires || r.state == LeaseRecord::State::kUnclean || r.state == LeaseRecord::State::kReleased) {
    return;
  }
  spdlog::warn("{} is mounted read-write by {} (pid {}) since {}: this read-only mount serves what it reads and "
               "keeps it cached, so it may not see that mount's later writes",
               store.url, r.host, r.pid, FormatUnixTime(r.started));
}

// Blocks not yet in the store: the cache layer's "dirty_blocks", 0 without a
// cache.
std::uint64_t DirtyBlocksOfStack(const Stack& stack) {
  for (const StatsJson& layer : stack.top->Stats()) {
    if (layer.value("layer", "") == "cache") return layer.value("dirty_blocks", std::uint64_t{0});
  }
  return 0;
}

// The status file of this daemon (see daemon_status.h).
class StatusFile {
 public:
  explicit StatusFile(const std::string& where) : path_(StatusFilePath(where)) {
    base_["pid"] = static_cast<long>(::getpid());
    base_["mountpoint"] = where;
  }
  const std::string& path() const { return path_; }

  void Set(const std::string& state, nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json j = base_;
    j["state"] = state;
    for (auto& [k, v] : extra.items()) j[k] = v;
    if (!WriteStatusFile(path_, j) && !warned_) {
      warned_ = true;
      spdlog::warn("cannot write the status file {}: {} (s3bd unmount cannot report the final flush)", path_,
                   std::strerror(errno));
    }
  }

 private:
  std::string path_;
  nlohmann::json base_;
  bool warned_ = false;
};

// While the final flush runs, rewrites the status file with the blocks left
// every 200 ms (for `s3bd unmount`'s progress bar).
class FlushProgress {
 public:
  FlushProgress(StatusFile& status, const Stack& stack)
      : thread_([this, &status, &stack] {
          std::unique_lock lock(mu_);
          do {
            lock.unlock();
            status.Set("flushing", {{"dirty_blocks", DirtyBlocksOfStack(stack)}});
            lock.lock();
          } while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return done_; }));
        }) {}
  ~FlushProgress() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

std::optional<std::string> MountedOn(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::optional<std::string> found;
  std::string line;
  // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, field, type, source;
    if (!(fields >> id >> parent >> dev >> root >> point)) continue;
    while (fields >> field && field != "-") {
    }
    if (!(fields >> type >> source)) continue;
    if (UnescapeMountinfo(point) == dir) found = type + " " + UnescapeMountinfo(source);
  }
  return found;
}

int ServeVolume(StoreConfig store, const DaemonConfig& daemon, const std::function<void()>& precheck,
                const FrontendFactory& make_frontend) {
  std::signal(SIGPIPE, SIG_IGN);
  int notify_fd = -1;
  try {
    SetupLogging(daemon.log_level, LogTo::kStderr);
    if (precheck) precheck();
    if (!daemon.log_file.empty()) CheckLogFile(daemon.log_file);

    if (!daemon.foreground) {
      const int parent_status = ForkAndWait(notify_fd);
      if (parent_status >= 0) return parent_status;
    }
    store.fenced = !store.read_only;
    Stack stack = BuildStack(store);
    std::unique_ptr<Lease> lease;
    // Until the lease is held the stack's uploads wait at the fence; a daemon
    // that fails before then closes it, so nothing is uploaded.
    struct CloseFenceOnError {
      Stack& stack;
      bool armed = true;
      ~CloseFenceOnError() {
        if (armed && stack.fence) stack.fence->Close();
      }
    } close_fence{stack};
    if (store.read_only) {
      SayIfWriterHoldsLease(store, stack, daemon.where);
    } else {
      lease = std::make_unique<Lease>(stack.meta, DaemonLeaseOptions(store, stack, daemon.where));
      lease->Acquire();
      UseSavedMap(stack, *lease);  // before the fence opens: nothing is changed yet
      stack.fence->Open();
    }
    // A start-up failure after this point leaves the lease as a stop would.
    struct EndLeaseOnError {
      Stack& stack;
      Lease* lease;
      bool armed = true;
      ~EndLeaseOnError() {
        if (!armed || !lease) return;
        if (auto ec = stack.top->Flush(FlushLevel::kStore)) {
          lease->MarkUnclean("the mount failed at start-up, and its data could not be flushed: " + ec.message());
        } else {
          lease->Release();
        }
      }
    } end_lease{stack, lease.get()};
    // Only now, with the lease held, may the store be surveyed: no other
    // daemon can still be uploading what the listing would miss.
    SurveyBlocksFirst(stack);
    Volume volume(*stack.top);
    StatusFile status(daemon.where);
    ServeContext context{volume, stack, store.read_only, status.path()};
    std::unique_ptr<ServedFrontend> frontend = make_frontend(context);
    // Stopping: requests to an unreachable store (also with --hard) give up
    // within one retry budget from now, however many blocks are waiting.
    std::once_flag stopping;
    const auto give_up = [&] {
      std::call_once(stopping, [&] {
        RetryLimit limit;
        limit.give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(store.s3.max_retry_time_s);
        stack.top->SetRetryLimit(limit);
      });
    };
    frontend->Start();
    // Before the daemon detaches, so that an address in use is an error
    // on the caller's terminal. Stopped before the front end goes away.
    std::unique_ptr<MetricsServer> metrics;
    if (daemon.metrics) {
      metrics = std::make_unique<MetricsServer>([&frontend] { return frontend->Stats(); });
      metrics->Start(*daemon.metrics);
    }
    struct StopMetrics {
      std::unique_ptr<MetricsServer>& m;
      ~StopMetrics() {
        if (m) m->Stop();
      }
    } stop_metrics{metrics};
    CommitGeometry(stack);
    if (store.s3.hard) stack.top->SetRetryLimit(RetryLimit{.until_answered = true, .give_up_at = {}});
    status.Set(daemon.live_state);
    if (!daemon.foreground) Detach(notify_fd, daemon);
    spdlog::info("{} {}", store.url, daemon.live_text);
    NotifySystemd(fmt::format("READY=1\nSTATUS={} {}", store.url, daemon.live_text));
    StartSurvey(stack);  // after Detach: its thread logs, and Detach replaces the logger
    if (lease) {
      lease->StartRenewing([&stack](const std::string& message) {
        stack.fence->Close();
        spdlog::error("{}", message);
      });
    }
    end_lease.armed = false;
    close_fence.armed = false;
    frontend->Run(give_up);
    give_up();
    NotifySystemd(store.read_only ? "STOPPING=1" : "STOPPING=1\nSTATUS=flushing everything to the store");
    if (store.read_only) {
      spdlog::info("{}", daemon.stopped_text);
      status.Set("done", {{"status", 0}, {"not_stored", 0}, {"reason", ""}});
      return 0;
    }
    if (auto lec = lease->MarkFlushing()) {
      spdlog::warn("{}: could not mark the lease as flushing: {}", store.url, lec.message());
    }
    std::error_code ec;
    {
      FlushProgress progress(status, stack);
      ec = stack.top->Flush(FlushLevel::kStore);
    }
    if (ec) {
      const std::uint64_t left = DirtyBlocksOfStack(stack);
      const std::string reason =
          lease->state() == Lease::State::kFenced ? lease->fenced_message() : ec.message();
      spdlog::error("{}, but data could not be flushed to the store: {} ({} blocks not stored)",
                    daemon.stopped_text, reason, left);
      if (auto lec = lease->MarkUnclean(fmt::format("the final flush failed: {} ({} blocks not stored)",
                                                    ec.message(), left))) {
        spdlog::error("{}: could not mark the lease unclean: {}", store.url, lec.message());
      }
      status.Set("done", {{"status", 1}, {"not_stored", left}, {"reason", reason}});
      return 1;
    }
    const bool map_saved = SaveMap(stack, *lease);
    if (auto lec = lease->Release(/*keep_record=*/map_saved)) {
      spdlog::error("{}: all data flushed, but the lease could not be released: {}", store.url, lec.message());
      status.Set("done", {{"status", 1}, {"not_stored", 0}, {"reason", "the lease could not be released: " + lec.message()}});
      return 1;
    }
    spdlog::info("{}; all data flushed to the store", daemon.stopped_text);
    status.Set("done", {{"status", 0}, {"not_stored", 0}, {"reason", ""}});
    return 0;
  } catch (const StartupError& e) {
    // Still attached to the caller's stderr: start-up errors happen before Detach().
    return ReportError(e);
  } catch (const std::exception& e) {
    spdlog::critical("unexpected error: {}", e.what());
    return 1;
  }
}

}  // namespace s3bd
