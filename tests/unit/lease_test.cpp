// The lease state machine (lease.h) on an in-memory MetaStore with an
// injected clock: no real sleeps.
#include "s3bd/volume/lease.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "s3bd/core/errors.h"
#include "s3bd/store/memory_store.h"

namespace s3bd {
namespace {

class LeaseTest : public ::testing::Test {
 protected:
  LeaseOptions Options(std::string host, std::int64_t pid, std::string cache_id = "") {
    LeaseOptions o;
    o.url = "s3://bkt/vol";
    o.host = std::move(host);
    o.pid = pid;
    if (!cache_id.empty()) {
      o.cache_file_id = cache_id;
      o.cache_file = "/var/cache/vol.cache";
    }
    o.ttl = std::chrono::seconds(60);
    o.renew_every = std::chrono::seconds(15);
    o.now = [this] { return now_; };
    o.pid_alive = [this](std::int64_t p) { return alive_.count(p) > 0; };
    o.sleep = [this](std::chrono::milliseconds d) {
      ++sleeps_;
      now_ += std::max<std::int64_t>(1, d.count() / 1000);
    };
    o.new_mount_id = [this] { return fmt::format("{:032x}", ++ids_); };
    return o;
  }
  LeaseRecord Stored() {
    std::string text, why;
    LeaseRecord r;
    EXPECT_FALSE(meta_->ReadMeta(kLeaseKey, text, nullptr));
    EXPECT_FALSE(DecodeLease(text, &r, &why)) << why;
    return r;
  }
  bool HasLease() {
    std::string text;
    return !meta_->ReadMeta(kLeaseKey, text, nullptr);
  }
  std::string Refusal(Lease& l) {
    try {
      l.Acquire();
    } catch (const StartupError& e) {
      return e.what();
    }
    return "";
  }

  std::shared_ptr<MemoryStore> meta_ = std::make_shared<MemoryStore>(Geometry{4096, 16});
  std::int64_t now_ = 1'800'000'000;
  std::set<std::int64_t> alive_{100, 200};
  int ids_ = 0;
  int sleeps_ = 0;
};

TEST_F(LeaseTest, FormatRoundTripsAndIsParsedAsHostile) {
  LeaseRecord r;
  r.host = "box";
  r.pid = 42;
  r.mount_id = std::string(32, 'a');
  r.cache_file_id = std::string(16, 'b');
  r.cache_file = "/c f";
  r.started = 10;
  r.expires = 70;
  r.state = LeaseRecord::State::kUnclean;
  r.reason = "disk full";
  const std::string text = EncodeLease(r);
  EXPECT_EQ(text,
            "s3bd-lease 1\nhost box\npid 42\nmount-id aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
            "cache-file-id bbbbbbbbbbbbbbbb\ncache-file /c f\nstarted 10\nexpires 70\nstate unclean\n"
            "reason disk full\n");
  LeaseRecord back;
  std::string why;
  ASSERT_FALSE(DecodeLease(text, &back, &why)) << why;
  EXPECT_EQ(back.cache_file, "/c f");
  EXPECT_EQ(back.reason, "disk full");
  EXPECT_EQ(back.state, LeaseRecord::State::kUnclean);
  r.state = LeaseRecord::State::kReleased;
  r.reason.clear();
  ASSERT_FALSE(DecodeLease(EncodeLease(r), &back, &why)) << why;
  EXPECT_EQ(back.state, LeaseRecord::State::kReleased);
  for (const std::string& bad :
       {std::string(""), std::string("s3bd-lease 2\n"), std::string("hello\n"), text.substr(0, text.size() - 1),
        std::string("s3bd-lease 1\nhost x\n"), std::string("s3bd-lease 1\npid -1\n"),
        std::string("s3bd-lease 1\nstate weird\n"), std::string(kMaxLeaseSize + 1, 'x'),
        std::string("s3bd-lease 1\nhost a\x01" "b\n")}) {
    EXPECT_EQ(DecodeLease(bad, &back, &why), make_error_code(Errc::kBadMetadata)) << bad;
    EXPECT_EQ(why.find('\n'), std::string::npos);
  }
}

TEST_F(LeaseTest, AcquireRenewRelease) {
  Lease l(meta_, Options("box", 100));
  EXPECT_EQ(l.state(), Lease::State::kAcquiring);
  l.Acquire();
  EXPECT_EQ(l.state(), Lease::State::kHeld);
  EXPECT_FALSE(l.best_effort());
  LeaseRecord r = Stored();
  EXPECT_EQ(r.host, "box");
  EXPECT_EQ(r.pid, 100);
  EXPECT_EQ(r.expires, now_ + 60);
  EXPECT_EQ(r.state, LeaseRecord::State::kLive);
  now_ += 15;
  ASSERT_FALSE(l.Renew());
  EXPECT_EQ(Stored().expires, now_ + 60);
  ASSERT_FALSE(l.MarkFlushing());
  EXPECT_EQ(Stored().state, LeaseRecord::State::kFlushing);
  ASSERT_FALSE(l.Release());
  EXPECT_EQ(l.state(), Lease::State::kReleased);
  EXPECT_FALSE(HasLease()) << "a clean unmount leaves no lease";
  std::string probe;
  EXPECT_EQ(meta_->ReadMeta(kProbeKey, probe, nullptr), std::errc::no_such_file_or_directory);
  Lease next(meta_, Options("other", 7));
  next.Acquire();
  EXPECT_EQ(next.state(), Lease::State::kHeld) << "the next mount is never falsely refused";
}

// Another tool's mount flag (s3backer's mount token): honoured both ways.
class FakeFlag : public ForeignMountFlag {
 public:
  std::error_code Check(bool* foreign, std::string* holder) override {
    *foreign = set && owner.empty();
    *holder = "s3backer (mount token 0x1234abcd)";
    return {};
  }
  std::error_code Set(const std::string& mount_id) override {
    if (fail_set) return make_error_code(std::errc::io_error);
    set = true;
    owner = mount_id;
    return {};
  }
  std::error_code Clear() override {
    set = false;
    owner.clear();
    return {};
  }
  std::string HowToClear() const override { return "run s3backer --reset-mounted-flag"; }
  bool set = false;
  bool fail_set = false;
  std::string owner;  // "" with set: the other tool's
};

TEST_F(LeaseTest, ForeignMountFlagIsHonouredBothWays) {
  auto flag = std::make_shared<FakeFlag>();
  LeaseOptions o = Options("box", 100);
  o.foreign_flag = flag;
  {
    flag->set = true;  // the other tool has the volume
    Lease l(meta_, o);
    EXPECT_EQ(Refusal(l),
              "s3://bkt/vol is mounted by s3backer (mount token 0x1234abcd); unmount it there, or, if that mount is "
              "gone, run s3backer --reset-mounted-flag");
    EXPECT_FALSE(HasLease());
  }
  flag->set = false;
  Lease l(meta_, o);
  l.Acquire();
  EXPECT_TRUE(flag->set);  // the other tool now refuses it
  EXPECT_EQ(flag->owner, Stored().mount_id);
  EXPECT_FALSE(l.MarkFlushing());
  EXPECT_FALSE(l.Release());
  EXPECT_FALSE(flag->set);
  EXPECT_FALSE(HasLease());
  // A flag left by a crashed s3bd mount is the lease's to judge.
  flag->set = true;
  flag->owner = "an earlier mount";
  Lease again(meta_, o);
  again.Acquire();
  EXPECT_EQ(flag->owner, Stored().mount_id);
  // Unclean: the flag stays, so the other tool keeps off the unflushed volume.
  EXPECT_FALSE(again.MarkUnclean("disk full"));
  EXPECT_TRUE(flag->set);
}

TEST_F(LeaseTest, ForeignMountFlagThatCannotBeSetFailsTheMountAndReleasesTheLease) {
  auto flag = std::make_shared<FakeFlag>();
  flag->fail_set = true;
  LeaseOptions o = Options("box", 100);
  o.foreign_flag = flag;
  Lease l(meta_, o);
  EXPECT_NE(Refusal(l).find("cannot set the mount flag of s3://bkt/vol"), std::string::npos);
  EXPECT_FALSE(HasLease());
}

TEST_F(LeaseTest, LiveLeaseOfAnotherMountIsRefused) {
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  const std::string before = EncodeLease(Stored());
  Lease b(meta_, Options("other", 200));
  EXPECT_EQ(Refusal(b), "s3://bkt/vol is mounted read-write by box (pid 100) since " + FormatUnixTime(now_) +
                            "; mount it --read-only, or unmount it there");
  EXPECT_EQ(EncodeLease(Stored()), before) << "nothing written";
  Lease same_host(meta_, Options("box", 200));
  EXPECT_NE(Refusal(same_host).find("is mounted read-write by box (pid 100)"), std::string::npos)
      << "pid 100 is alive";
}

TEST_F(LeaseTest, ExpiredLeaseNeedsTheCacheFileItNames) {
  Lease a(meta_, Options("box", 100, "00000000000000c1"));
  a.Acquire();
  now_ += 61;  // a crashed holder stops renewing
  Lease without(meta_, Options("other", 200));
  const std::string why = Refusal(without);
  EXPECT_NE(why.find("was not unmounted cleanly by box (pid 100)"), std::string::npos) << why;
  EXPECT_NE(why.find("/var/cache/vol.cache on box (id 00000000000000c1)"), std::string::npos) << why;
  EXPECT_NE(why.find("s3bd unlock s3://bkt/vol"), std::string::npos) << why;
  Lease wrong(meta_, Options("box", 200, "00000000000000c2"));
  EXPECT_FALSE(Refusal(wrong).empty()) << "another cache file";
  Lease with(meta_, Options("box", 200, "00000000000000c1"));
  with.Acquire();
  EXPECT_TRUE(with.took_over());
  EXPECT_EQ(Stored().pid, 200);
  // The old holder, should it come back, is fenced at its next renewal.
  EXPECT_EQ(a.Renew(), make_error_code(Errc::kConditionFailed));
  EXPECT_EQ(a.state(), Lease::State::kFenced);
  EXPECT_NE(a.fenced_message().find("FENCED: the lease is now held by box (pid 200)"), std::string::npos)
      << a.fenced_message();
  EXPECT_EQ(Stored().pid, 200) << "a fenced mount writes nothing";
  EXPECT_EQ(a.Release(), make_error_code(Errc::kConditionFailed));
  EXPECT_TRUE(HasLease());
}

TEST_F(LeaseTest, ExpiredLeaseWithoutCacheFileIsTakenOver) {
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  now_ += 60;
  Lease b(meta_, Options("other", 200));
  b.Acquire();
  EXPECT_TRUE(b.took_over());
}

TEST_F(LeaseTest, DeadProcessOfThisHostIsExpiredAtOnce) {
  Lease a(meta_, Options("box", 100, "00000000000000c1"));
  a.Acquire();
  alive_.erase(100);  // SIGKILL
  Lease other_host(meta_, Options("elsewhere", 300, "00000000000000c1"));
  EXPECT_NE(Refusal(other_host).find("is mounted read-write by box"), std::string::npos)
      << "another host cannot see box's processes";
  Lease no_file(meta_, Options("box", 200));
  EXPECT_NE(Refusal(no_file).find("not unmounted cleanly"), std::string::npos);
  Lease with(meta_, Options("box", 200, "00000000000000c1"));
  with.Acquire();
  EXPECT_TRUE(with.took_over());
  EXPECT_EQ(sleeps_, 0) << "no waiting for the expiry";
}

TEST_F(LeaseTest, StolenOrRemovedLeaseFencesAtTheNextRenewal) {
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  ASSERT_FALSE(meta_->DeleteMeta(kLeaseKey, MetaCondition::None()));
  EXPECT_EQ(a.Renew(), make_error_code(Errc::kConditionFailed));
  EXPECT_EQ(a.state(), Lease::State::kFenced);
  EXPECT_NE(a.fenced_message().find("its lease was removed"), std::string::npos);
  EXPECT_FALSE(HasLease()) << "not recreated";
  EXPECT_FALSE(a.MarkUnclean("x"));
  EXPECT_FALSE(HasLease());
}

TEST_F(LeaseTest, FlushingHolderIsWaitedFor) {
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  ASSERT_FALSE(a.MarkFlushing());
  Lease b(meta_, Options("other", 200));
  b.Acquire();  // each pause moves the clock on until the lease expires
  EXPECT_GT(sleeps_, 0);
  EXPECT_EQ(b.state(), Lease::State::kHeld);
  EXPECT_GE(now_, Stored().started);
}

TEST_F(LeaseTest, LiveLeaseWhoseMountPointIsGoneIsWaitedForUntilReleased) {
  LeaseOptions ao = Options("box", 100);
  ao.mountpoint = "/mnt/a";
  Lease a(meta_, ao);
  a.Acquire();
  EXPECT_EQ(Stored().mountpoint, "/mnt/a");
  bool mounted = true;
  LeaseOptions bo = Options("box", 200);
  bo.still_mounted = [&](const std::string& path) { return path == "/mnt/a" && mounted; };
  bo.sleep = [&](std::chrono::milliseconds) {
    ++sleeps_;
    if (sleeps_ == 3) {
      ASSERT_FALSE(a.Release());  // the unmounting daemon finishes its upload
    }
  };
  Lease refused(meta_, bo);
  EXPECT_NE(Refusal(refused).find("is mounted read-write by box (pid 100)"), std::string::npos);
  EXPECT_EQ(sleeps_, 0);
  mounted = false;  // fusermount3 -u returned; the daemon is still uploading
  Lease b(meta_, bo);
  b.Acquire();
  EXPECT_EQ(sleeps_, 3);
  EXPECT_EQ(b.state(), Lease::State::kHeld);
  EXPECT_FALSE(b.took_over()) << "released, not taken over";
}

TEST_F(LeaseTest, FailedFinalFlushLeavesItUnclean) {
  Lease a(meta_, Options("box", 100, "00000000000000c1"));
  a.Acquire();
  ASSERT_FALSE(a.MarkUnclean("the final flush failed: endpoint\nunreachable"));
  const LeaseRecord r = Stored();
  EXPECT_EQ(r.state, LeaseRecord::State::kUnclean);
  EXPECT_EQ(r.reason, "the final flush failed: endpoint unreachable");
  Lease b(meta_, Options("box", 200));
  const std::string why = Refusal(b);
  EXPECT_NE(why.find("the final flush failed"), std::string::npos) << why;
  bool found = false;
  LeaseOptions o = Options("elsewhere", 1);
  EXPECT_NE(RemoveLease(*meta_, o, false, &found).find("state unclean"), std::string::npos);
  EXPECT_TRUE(found);
  EXPECT_FALSE(HasLease());
}

TEST_F(LeaseTest, UnlockRefusesALiveLeaseUnlessForced) {
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  bool found = false;
  LeaseOptions o = Options("elsewhere", 1);
  EXPECT_THROW(RemoveLease(*meta_, o, false, &found), StartupError);
  EXPECT_TRUE(HasLease());
  EXPECT_NE(RemoveLease(*meta_, o, true, &found).find("held by box (pid 100)"), std::string::npos);
  EXPECT_FALSE(HasLease());
  RemoveLease(*meta_, o, false, &found);
  EXPECT_FALSE(found);
}

TEST_F(LeaseTest, ServerIgnoringConditionsFallsBackToReadBack) {
  meta_->set_ignore_conditions(true);
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  EXPECT_TRUE(a.best_effort());
  Lease b(meta_, Options("other", 200));
  EXPECT_NE(Refusal(b).find("is mounted read-write by box (pid 100)"), std::string::npos);
  // Someone overwrites it: the renewal's read-back sees another mount id.
  LeaseRecord thief = Stored();
  thief.mount_id = std::string(32, 'f');
  ASSERT_FALSE(meta_->WriteMeta(kLeaseKey, EncodeLease(thief), MetaCondition::None(), nullptr));
  EXPECT_EQ(a.Renew(), make_error_code(Errc::kConditionFailed));
  EXPECT_EQ(a.state(), Lease::State::kFenced);
}

TEST_F(LeaseTest, DirectoryStoreWithItsFlockTreatsAnyLeaseAsGone) {
  Lease a(meta_, Options("box", 100));
  a.Acquire();
  LeaseOptions o = Options("box", 200);
  o.exclusive_already = true;
  Lease b(meta_, o);
  b.Acquire();
  EXPECT_TRUE(b.took_over());
}

// A MemoryStore whose first conditional create lands but reports a
// conflict, as a retried PUT whose first answer was lost.
class LostAnswerStore : public MemoryStore {
 public:
  using MemoryStore::MemoryStore;
  std::error_code WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                            std::string* version) override {
    auto ec = MemoryStore::WriteMeta(key, value, cond, version);
    if (!ec && key == kLeaseKey && cond.kind == MetaCondition::Kind::kAbsent && !lost_) {
      lost_ = true;
      return make_error_code(Errc::kConditionFailed);
    }
    return ec;
  }
  std::error_code DeleteMeta(const std::string& key, const MetaCondition& cond) override {
    auto ec = MemoryStore::DeleteMeta(key, cond);
    if (!ec && key == kLeaseKey) return make_error_code(Errc::kConditionFailed);
    return ec;
  }

 private:
  bool lost_ = false;
};

TEST_F(LeaseTest, RetriedRequestsWhoseFirstAnswerWasLost) {
  auto store = std::make_shared<LostAnswerStore>(Geometry{4096, 16});
  Lease a(store, Options("box", 100));
  a.Acquire();
  EXPECT_EQ(a.state(), Lease::State::kHeld) << "its own lease, not another mount's";
  ASSERT_FALSE(a.Renew());
  EXPECT_FALSE(a.Release());
  EXPECT_EQ(a.state(), Lease::State::kReleased);
}

TEST_F(LeaseTest, UnreadableLeaseIsRefusedWithTheWayOut) {
  ASSERT_FALSE(meta_->WriteMeta(kLeaseKey, "garbage", MetaCondition::None(), nullptr));
  Lease a(meta_, Options("box", 100));
  const std::string why = Refusal(a);
  EXPECT_NE(why.find("s3bd unlock --force s3://bkt/vol"), std::string::npos) << why;
}

// The `released` record of a clean unmount that saved its block map
// (Release(true)): held by nobody, taken by the next mount like no lease,
// and it vouches (LastHeldBy) only for the mount and cache file it names,
// and only if nobody held the lease in between.
TEST_F(LeaseTest, ReleasedRecordVouchesOnlyForTheMountThatLeftIt) {
  const std::string cid = std::string(15, '0') + "c";
  Lease a(meta_, Options("box", 100, cid));
  a.Acquire();
  const std::string a_id = a.mount_id();
  ASSERT_FALSE(a.MarkFlushing());
  ASSERT_FALSE(a.Release(/*keep_record=*/true));
  EXPECT_EQ(a.state(), Lease::State::kReleased);
  LeaseRecord r = Stored();
  EXPECT_EQ(r.state, LeaseRecord::State::kReleased);
  EXPECT_EQ(r.mount_id, a_id);
  EXPECT_EQ(r.cache_file_id, cid);
  EXPECT_EQ(r.expires, now_) << "nobody renews it";
  // Nobody holds it: info, erase and unlock see a record, not a mount.
  LeaseOptions lo = Options("elsewhere", 5);
  const FoundLease f = ReadLease(*meta_, lo);
  EXPECT_TRUE(f.present && f.readable && f.released && f.dead);
  EXPECT_NE(f.holder.find("until its clean unmount"), std::string::npos) << f.holder;

  // The next mount takes it at once (another host, no waiting, no refusal,
  // even without the cache file it names: it holds nothing unsaved).
  Lease b(meta_, Options("other", 7, cid));
  b.Acquire();
  EXPECT_EQ(b.state(), Lease::State::kHeld);
  EXPECT_FALSE(b.took_over());
  EXPECT_TRUE(b.LastHeldBy(a_id, cid));
  EXPECT_FALSE(b.LastHeldBy(a_id, std::string(16, 'd'))) << "another cache file";
  EXPECT_FALSE(b.LastHeldBy(std::string(32, 'e'), cid)) << "another mount";
  EXPECT_FALSE(b.LastHeldBy(b.mount_id(), cid));
  EXPECT_EQ(Stored().mount_id, b.mount_id());
  EXPECT_EQ(Stored().state, LeaseRecord::State::kLive);

  // b ends without saving a map (deleted) : c finds no record.
  ASSERT_FALSE(b.Release());
  EXPECT_FALSE(HasLease());
  Lease c(meta_, Options("box", 100, cid));
  c.Acquire();
  EXPECT_FALSE(c.LastHeldBy(a_id, cid));
  EXPECT_FALSE(c.LastHeldBy(b.mount_id(), cid));
  ASSERT_FALSE(c.Release(true));
  const std::string c_id = c.mount_id();

  // A mount in between that is killed: its live lease, expired, is taken
  // over, and vouches for nothing.
  Lease d(meta_, Options("other", 7));
  d.Acquire();
  EXPECT_TRUE(d.LastHeldBy(c_id, cid)) << "d took c's record";
  now_ += 120;  // d is gone without a word
  Lease e(meta_, Options("box", 100, cid));
  e.Acquire();
  EXPECT_TRUE(e.took_over());
  EXPECT_FALSE(e.LastHeldBy(c_id, cid));
  EXPECT_FALSE(e.LastHeldBy(d.mount_id(), ""));
}

TEST_F(LeaseTest, ReleasedRecordIsTakenOverItsVersionOnly) {
  const std::string cid(16, 'c');
  Lease a(meta_, Options("box", 100, cid));
  a.Acquire();
  ASSERT_FALSE(a.Release(true));
  // Another mount takes and releases it while b looks: b's If-Match on the
  // version it read fails, so b looks again and sees the newer record.
  Lease other(meta_, Options("other", 7, cid));
  class Racing : public MemoryStore {
   public:
    Racing(std::shared_ptr<MemoryStore> real, std::function<void()> before_write)
        : MemoryStore(Geometry{4096, 16}), real_(std::move(real)), before_write_(std::move(before_write)) {}
    std::error_code ReadMeta(const std::string& k, std::string& v, std::string* ver) override {
      return real_->ReadMeta(k, v, ver);
    }
    std::error_code WriteMeta(const std::string& k, const std::string& v, const MetaCondition& c,
                              std::string* ver) override {
      if (k == kLeaseKey && before_write_) std::exchange(before_write_, nullptr)();
      return real_->WriteMeta(k, v, c, ver);
    }
    std::error_code DeleteMeta(const std::string& k, const MetaCondition& c) override { return real_->DeleteMeta(k, c); }
    std::error_code ProbeConditions(const std::string& k, bool* e) override { return real_->ProbeConditions(k, e); }

   private:
    std::shared_ptr<MemoryStore> real_;
    std::function<void()> before_write_;
  };
  auto racing = std::make_shared<Racing>(meta_, [&] {
    other.Acquire();
    ASSERT_FALSE(other.Release(true));
  });
  Lease b(racing, Options("box", 100, cid));
  b.Acquire();
  EXPECT_FALSE(b.LastHeldBy(a.mount_id(), cid)) << "someone held it after a";
  EXPECT_TRUE(b.LastHeldBy(other.mount_id(), cid));
}

TEST_F(LeaseTest, ReleasedRecordVouchesForNothingWhereConditionsAreIgnored) {
  meta_->set_ignore_conditions(true);
  const std::string cid(16, 'c');
  Lease a(meta_, Options("box", 100, cid));
  a.Acquire();
  ASSERT_FALSE(a.Release(true));
  EXPECT_EQ(Stored().state, LeaseRecord::State::kReleased);
  Lease b(meta_, Options("box", 100, cid));
  b.Acquire();
  EXPECT_TRUE(b.best_effort());
  EXPECT_FALSE(b.LastHeldBy(a.mount_id(), cid));
}

TEST_F(LeaseTest, UnlockRemovesAReleasedRecordWithoutForce) {
  Lease a(meta_, Options("box", 100, std::string(16, 'c')));
  a.Acquire();
  ASSERT_FALSE(a.Release(true));
  bool found = false;
  const std::string line = RemoveLease(*meta_, Options("box", 100), /*force=*/false, &found);
  EXPECT_TRUE(found);
  EXPECT_NE(line.find("record of the last clean unmount"), std::string::npos) << line;
  EXPECT_FALSE(HasLease());
}

}  // namespace
}  // namespace s3bd
