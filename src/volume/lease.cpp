// The lease of a read-write mount (lease.h).
//
// States:
//
//   state      meaning                              leaves by
//   ---------  -----------------------------------  ---------------------------------------------
//   ACQUIRING  not yet ours                         Acquire(): created (If-None-Match: *) or a dead
//                                                   holder's taken over (If-Match) -> HELD; a live
//                                                   holder, or a dead one whose cache file this
//                                                   mount lacks -> refused (StartupError)
//   HELD       ours, renewed every renew_every      Renew() finds it gone or another mount's
//                                                   (412, other mount id) -> FENCED;
//                                                   Release() -> RELEASED; MarkUnclean() -> RELEASED
//   FENCED     another mount holds it: nothing      never (the daemon stops uploading, writes and
//              more is uploaded                     fsync fail with EIO, dirty data stays cached)
//   RELEASED   deleted after a clean final flush    never
//              (or left as a `released` record,
//              Release(true)), or left `unclean`
//              with the reason
//
// The lease found at mount, and what Acquire() does with it:
//
//   none                                   create it
//   released (a clean unmount's record)    take it like none, but with If-Match on its
//                                          version; LastHeldBy() then tells whose it was
//   live (not expired), holder running     refuse: "mounted read-write by HOST (pid N) since T"
//   flushing (not expired), or live but
//   its mount point on this host is gone   wait (one line), re-reading every wait_poll
//   expired, unclean, or a process of this
//   host that no longer exists ("dead"),
//   or any lease on a store that excludes
//   writers itself (flock)                 take it over if it names no cache file or this
//                                          mount's cache file (whose unsaved blocks are
//                                          uploaded first); else refuse, naming the cache
//                                          file and its host, and `s3bd unlock`
//   unreadable                             refuse: `s3bd unlock --force` removes it
//
// Another tool's mount flag (LeaseOptions::foreign_flag, s3backer's mount
// token): checked before the lease (set by the tool: refuse), set once the
// lease is held (failing: release the lease, refuse), cleared by Release()
// after the lease is deleted; an unclean or fenced mount leaves it set.
//
// Without enforced conditions (best-effort) every write is followed by a
// read-back that must show our mount id, and a renewal first reads the lease.
#include "s3bd/volume/lease.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd {

namespace {

bool CleanValue(std::string_view v, std::size_t max) {
  if (v.empty() || v.size() > max) return false;
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool ParseInt(std::string_view v, std::int64_t* out) {
  if (v.empty() || v.size() > 18) return false;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  *out = n;
  return true;
}

bool IsHex(std::string_view v, std::size_t len) {
  return v.size() == len && v.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string RandomHex(std::size_t digits) {
  std::random_device rd;
  std::string s;
  while (s.size() < digits) s += fmt::format("{:08x}", rd());
  s.resize(digits);
  return s;
}

bool Conflict(std::error_code ec) { return ec == make_error_code(Errc::kConditionFailed); }

std::string Holder(const LeaseRecord& r) { return fmt::format("{} (pid {})", r.host, r.pid); }

}  // namespace

const char* LeaseStateName(LeaseRecord::State s) {
  switch (s) {
    case LeaseRecord::State::kLive: return "live";
    case LeaseRecord::State::kFlushing: return "flushing";
    case LeaseRecord::State::kUnclean: return "unclean";
    case LeaseRecord::State::kReleased: return "released";
  }
  return "live";
}

std::string FormatUnixTime(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string EncodeLease(const LeaseRecord& r) {
  std::string s = "s3bd-lease 1\n";
  s += fmt::format("host {}\npid {}\nmount-id {}\n", r.host, r.pid, r.mount_id);
  if (!r.cache_file_id.empty()) s += fmt::format("cache-file-id {}\ncache-file {}\n", r.cache_file_id, r.cache_file);
  if (!r.mountpoint.empty()) s += fmt::format("mountpoint {}\n", r.mountpoint);
  s += fmt::format("started {}\nexpires {}\nstate {}\n", r.started, r.expires, LeaseStateName(r.state));
  if (!r.reason.empty()) s += fmt::format("reason {}\n", r.reason);
  return s;
}

std::error_code DecodeLease(std::string_view text, LeaseRecord* out, std::string* why) {
  const auto bad = [&](std::string w) {
    *why = std::move(w);
    return make_error_code(Errc::kBadMetadata);
  };
  if (text.size() > kMaxLeaseSize) return bad(fmt::format("larger than {} bytes", kMaxLeaseSize));
  LeaseRecord r;
  bool first = true, have_host = false, have_pid = false, have_id = false, have_started = false,
       have_expires = false, have_state = false;
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return bad("the last line is not terminated");
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (first) {
      if (line != "s3bd-lease 1") {
        return line.rfind("s3bd-lease ", 0) == 0 ? bad("a lease format this s3bd does not know (a newer s3bd?)")
                                                 : bad("not an s3bd lease");
      }
      first = false;
      continue;
    }
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return bad(fmt::format("line {}: expected 'key value'", line_no));
    const std::string_view key = line.substr(0, sp), value = line.substr(sp + 1);
    if (!CleanValue(value, 1024)) return bad(fmt::format("line {}: bad value", line_no));
    if (key == "host") {
      r.host = value;
      have_host = value.size() <= 255;
    } else if (key == "pid") {
      have_pid = ParseInt(value, &r.pid) && r.pid > 0 && r.pid <= INT_MAX;
      if (!have_pid) return bad(fmt::format("line {}: bad pid", line_no));
    } else if (key == "mount-id") {
      if (!IsHex(value, 32)) return bad(fmt::format("line {}: bad mount-id", line_no));
      r.mount_id = value;
      have_id = true;
    } else if (key == "cache-file-id") {
      if (!IsHex(value, 16)) return bad(fmt::format("line {}: bad cache-file-id", line_no));
      r.cache_file_id = value;
    } else if (key == "cache-file") {
      r.cache_file = value;
    } else if (key == "mountpoint") {
      r.mountpoint = value;
    } else if (key == "started") {
      have_started = ParseInt(value, &r.started);
      if (!have_started) return bad(fmt::format("line {}: bad started", line_no));
    } else if (key == "expires") {
      have_expires = ParseInt(value, &r.expires);
      if (!have_expires) return bad(fmt::format("line {}: bad expires", line_no));
    } else if (key == "state") {
      have_state = true;
      if (value == "live") r.state = LeaseRecord::State::kLive;
      else if (value == "flushing") r.state = LeaseRecord::State::kFlushing;
      else if (value == "unclean") r.state = LeaseRecord::State::kUnclean;
      else if (value == "released") r.state = LeaseRecord::State::kReleased;
      else return bad(fmt::format("line {}: bad state", line_no));
    } else if (key == "reason") {
      r.reason = value;
    }  // other keys: a later s3bd's additions, ignored
  }
  if (first) return bad("empty");
  if (!have_host || !have_pid || !have_id || !have_started || !have_expires || !have_state) {
    return bad("a required line (host, pid, mount-id, started, expires, state) is missing");
  }
  *out = std::move(r);
  return {};
}

LeaseOptions DefaultLeaseOptions() {
  LeaseOptions o;
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
  o.host = host;
  for (char& c : o.host) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ') c = '_';
  }
  o.pid = ::getpid();
  o.now = [] {
    return static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  };
  // A pid reused by another program is not a holder.
  o.pid_alive = [](std::int64_t pid) {
    std::FILE* f = std::fopen(fmt::format("/proc/{}/comm", pid).c_str(), "r");
    if (!f) return false;
    char comm[64] = {};
    const bool got = std::fgets(comm, sizeof comm, f) != nullptr;
    std::fclose(f);
    return got && std::string_view(comm).rfind("s3bd", 0) == 0;
  };
  o.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  o.new_mount_id = [] { return RandomHex(32); };
  return o;
}

Lease::Lease(std::shared_ptr<MetaStore> meta, LeaseOptions options)
    : meta_(std::move(meta)), options_(std::move(options)) {}

Lease::~Lease() { StopRenewing(); }

Lease::State Lease::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::string Lease::fenced_message() const {
  std::lock_guard lock(mu_);
  return fenced_why_;
}

std::string Lease::mount_id() const {
  std::lock_guard lock(mu_);
  return record_.mount_id;
}

bool Lease::LastHeldBy(const std::string& mount_id, const std::string& cache_file_id) const {
  std::lock_guard lock(mu_);
  return enforced_ && took_released_ && !mount_id.empty() && previous_.mount_id == mount_id &&
         !cache_file_id.empty() && previous_.cache_file_id == cache_file_id;
}

void Lease::Acquire() {
  ForeignMountFlag* flag = options_.foreign_flag.get();
  if (flag != nullptr) {
    bool foreign = false;
    std::string holder;
    if (auto ec = flag->Check(&foreign, &holder)) {
      throw StartupError(fmt::format("cannot read the mount flag of {}: {}", options_.url, ec.message()));
    }
    if (foreign) {
      throw StartupError(fmt::format("{} is mounted by {}; unmount it there, or, if that mount is gone, {}",
                                     options_.url, holder, flag->HowToClear()));
    }
  }
  AcquireLease();
  if (flag != nullptr) {
    if (auto ec = flag->Set(record_.mount_id)) {
      Release();
      throw StartupError(fmt::format("cannot set the mount flag of {}: {}", options_.url, ec.message()));
    }
  }
}

void Lease::AcquireLease() {
  const auto refuse = [&](const std::string& why) { throw StartupError(why); };
  // The probe writes an object: only once the lease found allows a mount.
  bool probed = false;
  const auto probe = [&] {
    if (probed) return;
    probed = true;
    bool enforced = true;
    if (auto ec = meta_->ProbeConditions(kProbeKey, &enforced)) {
      refuse(fmt::format("cannot take the lease of {}: {}", options_.url, ec.message()));
    }
    {
      std::lock_guard lock(mu_);
      enforced_ = enforced;
    }
    if (!enforced) {
      spdlog::warn("{}: the server ignores conditional writes (If-None-Match, If-Match): excluding a second "
                   "read-write mount is best-effort on it (check, write, read back)",
                   options_.url);
    }
  };
  {
    std::lock_guard lock(mu_);
    record_ = LeaseRecord{};
    record_.host = options_.host;
    record_.pid = options_.pid;
    record_.mount_id = options_.new_mount_id();
    record_.cache_file_id = options_.cache_file_id;
    record_.cache_file = options_.cache_file;
    record_.mountpoint = options_.mountpoint;
  }
  bool said_waiting = false;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 1000) refuse(fmt::format("cannot take the lease of {}: it keeps changing", options_.url));
    std::string text, version;
    const std::error_code rec = meta_->ReadMeta(kLeaseKey, text, &version);
    if (rec && rec != std::errc::no_such_file_or_directory) {
      refuse(fmt::format("cannot read the lease of {}: {}", options_.url, rec.message()));
    }
    MetaCondition cond = MetaCondition::Absent();
    std::optional<LeaseRecord> released;  // the `released` record this attempt takes
    if (!rec) {
      LeaseRecord found;
      std::string why;
      if (DecodeLease(text, &found, &why)) {
        refuse(fmt::format("the lease object of {} cannot be read ({}); remove it with `s3bd unlock --force {}`",
                           options_.url, why, options_.url));
      }
      if (found.mount_id == record_.mount_id) {
        // Our own create, whose answer was lost and whose retry was refused.
        std::lock_guard lock(mu_);
        version_ = version;
        state_ = State::kHeld;
        return;
      }
      if (found.state == LeaseRecord::State::kReleased) {
        // Nobody holds it: a clean unmount's record, taken like no lease at
        // all, but over its version, so that LastHeldBy() can vouch that
        // nobody came in between.
        cond = MetaCondition::Version(version);
        released = std::move(found);
      } else {
        const std::int64_t now = Now();
        const bool dead = options_.exclusive_already || now >= found.expires ||
                          found.state == LeaseRecord::State::kUnclean ||
                          (found.host == options_.host && !options_.pid_alive(found.pid));
        const bool unmounting = found.state == LeaseRecord::State::kFlushing ||
                                (found.host == options_.host && !found.mountpoint.empty() &&
                                 options_.still_mounted && !options_.still_mounted(found.mountpoint));
        if (!dead && unmounting) {
          if (!said_waiting) {
            spdlog::info("{}: waiting for {} to finish uploading at its unmount of {} (lease expires {})",
                         options_.url, Holder(found), found.mountpoint.empty() ? "the volume" : found.mountpoint,
                         FormatUnixTime(found.expires));
            said_waiting = true;
          }
          options_.sleep(options_.wait_poll);
          continue;
        }
        if (!dead) {
          refuse(fmt::format("{} is mounted read-write by {} since {}; mount it --read-only, or unmount it there",
                             options_.url, Holder(found), FormatUnixTime(found.started)));
        }
        if (!found.cache_file_id.empty() && found.cache_file_id != options_.cache_file_id) {
          refuse(fmt::format(
              "{} was not unmounted cleanly by {} (mounted since {}{}): its unsaved blocks may be in the cache file "
              "{} on {} (id {}); mount with --cache-file {} there, or discard them with `s3bd unlock {}`",
              options_.url, Holder(found), FormatUnixTime(found.started),
              found.reason.empty() ? "" : ", " + found.reason, found.cache_file, found.host, found.cache_file_id,
              found.cache_file, options_.url));
        }
        spdlog::warn("{}: taking over the lease of {} (mounted since {}), which did not unmount cleanly{}{}",
                     options_.url, Holder(found), FormatUnixTime(found.started),
                     found.reason.empty() ? "" : " (" + found.reason + ")",
                     found.cache_file_id.empty() ? ": writes it had not stored are lost"
                                                 : "; this mount has its cache file and uploads its unsaved blocks first");
        cond = MetaCondition::Version(version);
        std::lock_guard lock(mu_);
        took_over_ = true;
      }
    }
    probe();
    std::unique_lock lock(mu_);
    record_.started = Now();
    record_.expires = record_.started + options_.ttl.count();
    record_.state = LeaseRecord::State::kLive;
    std::string new_version;
    const std::error_code wec =
        meta_->WriteMeta(kLeaseKey, EncodeLease(record_), enforced_ ? cond : MetaCondition::None(), &new_version);
    if (Conflict(wec)) continue;  // another mount got there first: look again
    if (wec) refuse(fmt::format("cannot write the lease of {}: {}", options_.url, wec.message()));
    if (!enforced_) {
      // Best-effort: whoever wrote last wins; read back.
      std::string back;
      LeaseRecord mine;
      std::string why;
      if (meta_->ReadMeta(kLeaseKey, back, &new_version) || DecodeLease(back, &mine, &why) ||
          mine.mount_id != record_.mount_id) {
        lock.unlock();
        continue;
      }
    }
    version_ = new_version;
    state_ = State::kHeld;
    took_released_ = released.has_value();
    if (released) previous_ = std::move(*released);
    return;
  }
}

std::error_code Lease::Fence(const std::string& why) {
  state_ = State::kFenced;
  fenced_why_ = fmt::format(
      "{}: FENCED: {}; this mount stops uploading, writes and fsync fail with EIO, and its unsaved blocks stay in "
      "its cache{}",
      options_.url, why, options_.cache_file.empty() ? " (memory only: lost at unmount)" : " file " + options_.cache_file);
  return make_error_code(Errc::kConditionFailed);
}

std::error_code Lease::Rewrite() {
  if (state_ == State::kFenced) return make_error_code(Errc::kConditionFailed);
  if (state_ != State::kHeld) return make_error_code(std::errc::operation_not_permitted);
  LeaseRecord next = record_;
  if (next.state == LeaseRecord::State::kLive || next.state == LeaseRecord::State::kFlushing) {
    next.expires = Now() + options_.ttl.count();
  }
  const auto check_current = [&]() -> std::error_code {
    std::string text, version;
    const std::error_code ec = meta_->ReadMeta(kLeaseKey, text, &version);
    if (ec == std::errc::no_such_file_or_directory) return Fence("its lease was removed");
    if (ec) return ec;
    LeaseRecord cur;
    std::string why;
    if (DecodeLease(text, &cur, &why)) return Fence("its lease was overwritten with something unreadable (" + why + ")");
    if (cur.mount_id != record_.mount_id) {
      return Fence(fmt::format("the lease is now held by {} since {}", Holder(cur), FormatUnixTime(cur.started)));
    }
    version_ = version;
    return {};
  };
  if (!enforced_) {
    if (auto ec = check_current()) return ec;
  }
  std::string new_version;
  std::error_code ec = meta_->WriteMeta(kLeaseKey, EncodeLease(next),
                                        enforced_ ? MetaCondition::Version(version_) : MetaCondition::None(),
                                        &new_version);
  if (Conflict(ec)) {
    // Gone or someone else's, unless our own earlier write landed (a retried
    // request): then adopt its version and write again.
    if (auto c = check_current()) return c;
    ec = meta_->WriteMeta(kLeaseKey, EncodeLease(next), MetaCondition::Version(version_), &new_version);
    if (Conflict(ec)) return Fence("its lease changed while it renewed it");
  }
  if (ec) return ec;
  record_ = next;
  version_ = new_version;
  return {};
}

std::error_code Lease::Renew() {
  std::lock_guard lock(mu_);
  return Rewrite();
}

void Lease::StartRenewing(std::function<void(const std::string&)> on_fenced) {
  renewer_ = std::thread([this, on_fenced = std::move(on_fenced)] {
    std::unique_lock lock(mu_);
    while (!stop_cv_.wait_for(lock, options_.renew_every, [&] { return stop_; })) {
      if (state_ != State::kHeld) continue;
      const std::error_code ec = Rewrite();
      if (state_ == State::kFenced) {
        const std::string msg = fenced_why_;
        lock.unlock();
        on_fenced(msg);
        return;
      }
      if (ec) spdlog::warn("{}: could not renew the lease (will retry): {}", options_.url, ec.message());
    }
  });
}

void Lease::StopRenewing() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

std::error_code Lease::MarkFlushing() {
  std::lock_guard lock(mu_);
  if (state_ != State::kHeld) return {};
  const auto saved = record_.state;
  record_.state = LeaseRecord::State::kFlushing;
  auto ec = Rewrite();
  if (ec) record_.state = saved;
  return ec;
}

std::error_code Lease::Release(bool keep_record) {
  StopRenewing();
  std::lock_guard lock(mu_);
  if (state_ != State::kHeld) return state_ == State::kFenced ? make_error_code(Errc::kConditionFailed) : std::error_code{};
  if (keep_record) {
    // The record a saved block map is checked against (LastHeldBy): our
    // mount id and cache file id, held by nobody.
    const LeaseRecord saved = record_;
    record_.state = LeaseRecord::State::kReleased;
    record_.reason.clear();
    record_.expires = Now();
    const std::error_code ec = Rewrite();
    if (ec) {
      if (state_ != State::kFenced) record_ = saved;
      return ec;
    }
    state_ = State::kReleased;
    return {};
  }
  if (!enforced_) {
    std::string text, version;
    LeaseRecord cur;
    std::string why;
    if (auto ec = meta_->ReadMeta(kLeaseKey, text, &version); !ec && !DecodeLease(text, &cur, &why) &&
                                                              cur.mount_id != record_.mount_id) {
      return Fence("the lease is now held by " + Holder(cur));
    }
  }
  const std::error_code ec =
      meta_->DeleteMeta(kLeaseKey, enforced_ ? MetaCondition::Version(version_) : MetaCondition::None());
  if (Conflict(ec)) {
    // Gone already (a retried DELETE whose first attempt worked) is released.
    std::string text;
    if (meta_->ReadMeta(kLeaseKey, text, nullptr) != std::errc::no_such_file_or_directory) {
      return Fence("its lease changed before it was released");
    }
  } else if (ec) {
    return ec;
  }
  state_ = State::kReleased;
  if (options_.foreign_flag) return options_.foreign_flag->Clear();
  return {};
}

std::error_code Lease::MarkUnclean(const std::string& reason) {
  StopRenewing();
  std::lock_guard lock(mu_);
  if (state_ != State::kHeld) return {};
  record_.state = LeaseRecord::State::kUnclean;
  record_.reason.clear();
  for (char c : reason) record_.reason += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  if (record_.reason.size() > 512) record_.reason.resize(512);
  record_.expires = Now();
  auto ec = Rewrite();
  if (!ec) state_ = State::kReleased;
  return ec;
}

FoundLease ReadLease(MetaStore& meta, const LeaseOptions& options) {
  FoundLease f;
  std::string text;
  const std::error_code ec = meta.ReadMeta(kLeaseKey, text, &f.version);
  if (ec == std::errc::no_such_file_or_directory) return f;
  if (ec) throw StartupError(fmt::format("cannot read the lease of {}: {}", options.url, ec.message()));
  f.present = true;
  f.readable = !DecodeLease(text, &f.record, &f.why);
  if (!f.readable) {
    f.holder = "an unreadable lease (" + f.why + ")";
    return f;
  }
  const LeaseRecord& r = f.record;
  f.released = r.state == LeaseRecord::State::kReleased;
  f.dead = f.released || options.now() >= r.expires || r.state == LeaseRecord::State::kUnclean ||
           (r.host == options.host && !options.pid_alive(r.pid));
  const std::string cache_file =
      r.cache_file_id.empty() ? "" : fmt::format(", cache file {} (id {})", r.cache_file, r.cache_file_id);
  if (f.released) {
    f.holder = fmt::format("{} (pid {}), mounted from {} until its clean unmount at {}{}", r.host, r.pid,
                           FormatUnixTime(r.started), FormatUnixTime(r.expires), cache_file);
    return f;
  }
  f.holder = fmt::format("{} (pid {}), mounted since {}, state {}{}{}", r.host, r.pid, FormatUnixTime(r.started),
                         LeaseStateName(r.state), r.reason.empty() ? "" : " (" + r.reason + ")", cache_file);
  return f;
}

std::string RemoveLease(MetaStore& meta, const LeaseOptions& options, bool force, bool* found) {
  *found = false;
  bool enforced = false;  // also picks the If-Match spelling
  if (auto ec = meta.ProbeConditions(kProbeKey, &enforced)) {
    throw StartupError(fmt::format("cannot reach {}: {}", options.url, ec.message()));
  }
  const FoundLease f = ReadLease(meta, options);
  if (!f.present) return fmt::format("{} has no lease: not mounted read-write", options.url);
  *found = true;
  if (f.readable && !f.dead && !force) {
    throw StartupError(fmt::format("the lease of {} is held by {} and still being renewed (expires {}); "
                                   "unmount it there, or use --force if that machine is gone",
                                   options.url, f.holder, FormatUnixTime(f.record.expires)));
  }
  if (!f.readable && !force) {
    throw StartupError(fmt::format("the lease object of {} cannot be read ({}); use --force to remove it",
                                   options.url, f.why));
  }
  if (auto d = meta.DeleteMeta(kLeaseKey, MetaCondition::Version(f.version)); d && !Conflict(d)) {
    throw StartupError(fmt::format("cannot remove the lease of {}: {}", options.url, d.message()));
  } else if (Conflict(d)) {
    throw StartupError(fmt::format("the lease of {} changed meanwhile; look again", options.url));
  }
  if (f.released) {
    return fmt::format("removed the record of the last clean unmount of {} ({}): the next mount surveys the volume",
                       options.url, f.holder);
  }
  return fmt::format("removed the lease of {}: it was held by {}", options.url, f.holder);
}

}  // namespace s3bd
