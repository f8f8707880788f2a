// The lease of a read-write mount: one metadata object, kLeaseKey
// ("s3bd-lease", beside "s3bd-volume"), that names the mount holding the
// volume and is renewed while it runs. See src/volume/lease.cpp for the
// state table and the decisions at mount.
//
// Format (text, at most kMaxLeaseSize bytes; unknown keys are ignored,
// a later incompatible format changes the version on the first line):
//
//   s3bd-lease 1
//   host NAME                 gethostname()
//   pid N                     the daemon's process id
//   mount-id HEX              32 random hex digits, new at every mount
//   cache-file-id HEX         16 hex digits: the cache file's random id (only with --cache-file)
//   cache-file PATH           its absolute path (only with --cache-file)
//   mountpoint PATH           where it is mounted (on `host`)
//   started UNIX-SECONDS      when the mount took the lease
//   expires UNIX-SECONDS      until when it holds it unless renewed
//   state live|flushing|unclean|released
//   reason TEXT               why a final flush failed (state unclean only)
//
// Another tool's "mounted" flag beside the lease (ForeignMountFlag; today
// s3backer's mount token on s3backer volumes, volume/s3backer_token.h):
// Acquire() refuses while that tool has the volume, sets the flag once the
// lease is held so that the tool refuses the volume while we have it, and
// Release() clears it after the lease. A flag that s3bd set itself (a mount
// that crashed) is left to the lease to judge; MarkUnclean() and a fenced
// lease leave it set.
//
// A lease in state `released` is held by nobody: the record a clean unmount
// leaves instead of deleting the lease when it saved its block map in its
// cache file (Release(true)), naming that mount and cache file, so that the
// next mount can tell whether anyone else held the volume in between
// (LastHeldBy; the trust rule of a saved map is in map/block_map.h). An
// s3bd older than the state refuses such a record as unreadable: `s3bd
// unlock --force` removes it (the next mount then surveys).
//
// Where conditions are enforced (ProbeConditions at mount: AWS, MinIO, the
// test server; Ceph RGW with the bare ETag in If-Match), the lease is created
// with If-None-Match: * and renewed, taken over and released with If-Match on
// its version, so two mounts can never both hold it. Elsewhere the lease is
// best-effort: check, write, read back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "s3bd/core/meta_store.h"

namespace s3bd {

inline constexpr const char* kLeaseKey = "s3bd-lease";
inline constexpr const char* kProbeKey = "s3bd-probe";
inline constexpr std::size_t kMaxLeaseSize = 4096;

struct LeaseRecord {
  enum class State { kLive, kFlushing, kUnclean, kReleased };
  std::string host;
  std::int64_t pid = 0;
  std::string mount_id;
  std::string cache_file_id;  // "" without a cache file
  std::string cache_file;
  std::string mountpoint;  // "" if not known
  std::int64_t started = 0;
  std::int64_t expires = 0;
  State state = State::kLive;
  std::string reason;
};

std::string EncodeLease(const LeaseRecord& r);
// Errc::kBadMetadata with a one-line *why for anything malformed.
std::error_code DecodeLease(std::string_view text, LeaseRecord* r, std::string* why);
const char* LeaseStateName(LeaseRecord::State s);
// "2026-12-01 09:42:40 UTC"
std::string FormatUnixTime(std::int64_t t);

class ForeignMountFlag {
 public:
  virtual ~ForeignMountFlag() = default;
  // Whether the flag is set by the other tool (*foreign, with *holder
  // describing it for the refusal), rather than absent or set by s3bd.
  virtual std::error_code Check(bool* foreign, std::string* holder) = 0;
  // Sets it, naming this mount (`mount_id`) as s3bd's.
  virtual std::error_code Set(const std::string& mount_id) = 0;
  virtual std::error_code Clear() = 0;
  // One line for the refusal: how to clear a stale flag of the other tool.
  virtual std::string HowToClear() const = 0;
};

struct LeaseOptions {
  std::string url;         // the store, for messages: "s3://bkt/vol"
  std::string host;        // this machine
  std::int64_t pid = 0;    // this process
  std::string cache_file_id, cache_file;  // this mount's cache file, if any
  std::string mountpoint;                 // where this mount will be
  // The store already excludes other writers (the directory store's flock):
  // any lease found belongs to a mount that is gone.
  bool exclusive_already = false;
  std::chrono::seconds ttl{60};          // expires = now + ttl at every renewal
  std::chrono::seconds renew_every{15};  // well before expiry
  std::chrono::milliseconds wait_poll{1000};  // re-reading a lease whose holder is flushing
  // Injected for tests: unix seconds now; whether a process of this host
  // exists; pausing between re-reads.
  std::function<std::int64_t()> now;
  std::function<bool(std::int64_t pid)> pid_alive;
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<std::string()> new_mount_id;
  // Whether a FUSE file system is mounted on a path of this host. A live
  // lease of this host whose mount point is gone belongs to a daemon that
  // is unmounting (before it could mark the lease `flushing`): waited for
  // like a flushing one. Null: not checked.
  std::function<bool(const std::string& path)> still_mounted;
  // Another tool's mount flag to honour (above); null: none.
  std::shared_ptr<ForeignMountFlag> foreign_flag;
};

// Defaults for the daemon: the real clock, /proc/PID (whose command is
// s3bd), gethostname(), getpid(); no still_mounted.
LeaseOptions DefaultLeaseOptions();

class Lease {
 public:
  enum class State { kAcquiring, kHeld, kFenced, kReleased };

  Lease(std::shared_ptr<MetaStore> meta, LeaseOptions options);
  ~Lease();  // stops renewing; releases nothing
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Takes the lease (see lease.cpp); waits while its holder is flushing.
  // Throws StartupError with the one-line refusal.
  void Acquire();
  // One renewal. An error other than fencing (the store unreachable) leaves
  // the lease held, to be renewed at the next tick. Returns
  // Errc::kConditionFailed once fenced.
  std::error_code Renew();
  // Renews every renew_every on a thread; `on_fenced` runs once, with a
  // one-line message, when a renewal finds the lease gone or another's.
  void StartRenewing(std::function<void(const std::string&)> on_fenced);
  void StopRenewing();
  // Unmount: before the final flush the lease says `flushing`; after it,
  // Release() deletes it (if still ours) or MarkUnclean() records why not.
  // Release(true) instead rewrites it as a `released` record (with If-Match
  // on our version where enforced): for a mount that saved its block map.
  std::error_code MarkFlushing();
  std::error_code Release(bool keep_record = false);
  std::error_code MarkUnclean(const std::string& reason);

  State state() const;
  bool best_effort() const { return !enforced_; }
  const LeaseRecord& record() const { return record_; }
  // Set by Acquire(): the lease of a mount that did not unmount cleanly was
  // taken over (its cache file is this mount's).
  bool took_over() const { return took_over_; }
  // This mount's id (set by Acquire()).
  std::string mount_id() const;
  // Whether the lease Acquire() took was the `released` record of mount
  // `mount_id` with cache file `cache_file_id`, on a store that enforces
  // conditions: then no other read-write mount held the volume since that
  // mount's clean unmount (every one takes this lease, and the record was
  // taken with If-Match on its version).
  bool LastHeldBy(const std::string& mount_id, const std::string& cache_file_id) const;
  // The message of a fenced lease.
  std::string fenced_message() const;

 private:
  // Acquire() without the foreign flag.
  void AcquireLease();
  // Writes record_ (with `expires` moved on) over the version we hold.
  std::error_code Rewrite();
  std::error_code Fence(const std::string& why);
  std::int64_t Now() const { return options_.now(); }

  const std::shared_ptr<MetaStore> meta_;
  const LeaseOptions options_;
  mutable std::mutex mu_;  // guards everything below; held across store calls (they are few)
  State state_ = State::kAcquiring;
  bool enforced_ = true;
  bool took_over_ = false;
  bool took_released_ = false;  // Acquire() took a `released` record: previous_
  LeaseRecord previous_;
  LeaseRecord record_;
  std::string version_;
  std::string fenced_why_;
  std::thread renewer_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
};

// A lease found in a store, as the commands see it (info, erase, unlock).
struct FoundLease {
  bool present = false;   // there is a lease object
  bool readable = false;  // it parsed (else `why` says what is wrong)
  LeaseRecord record;
  std::string version;
  std::string why;
  // Nobody renews it: expired, unclean, released, or held by a process of
  // this host that no longer exists.
  bool dead = false;
  bool released = false;  // a `released` record: nobody holds the volume
  // "HOST (pid N), mounted since TIME, state S[ (REASON)][, cache file F (id I)]"
  std::string holder;
};
// Reads the lease of `meta` (no lease: present = false). Throws StartupError
// when it cannot be read.
FoundLease ReadLease(MetaStore& meta, const LeaseOptions& options);

// `s3bd unlock`: reads the lease of `meta`; *found is false without one.
// Refuses (StartupError) a lease that is still being renewed (not expired,
// not a dead process of this host, not unclean) unless `force`. Returns
// one line describing whose lease it was.
std::string RemoveLease(MetaStore& meta, const LeaseOptions& options, bool force, bool* found);

}  // namespace s3bd
