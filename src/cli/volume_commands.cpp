// `s3bd verify STORE` and `s3bd erase STORE`: the commands that go through
// every object of a volume. Both list the store (OpenedVolume::list) and
// sort what they find into the volume's blocks, blocks outside the volume,
// s3bd's metadata objects (s3bd-volume; s3bd-lease, the read-write lease
// of a mount), a directory store's temp files (a write in progress) and
// objects that are not s3bd's.
//
// verify reads every block object through the store's own read path, so it
// checks exactly what a read checks (S3: the CRC-32C stored with the object
// or the MD5 ETag, a CRC-32C required where the volume says so, exactly one
// block of data; directory: the file's size), in a bounded pool of threads.
// It opens the store read-only and takes no lock (the directory store's
// flock is not taken at all), so it runs beside a read-write mount without
// blocking it; blocks that change meanwhile are seen old or new.
//
// erase deletes the block objects first (S3: DeleteObjects of 1000 keys,
// several at once), then the metadata, s3bd-volume last, so an erase that
// is interrupted leaves a volume that `s3bd erase` recognises again. It
// never deletes what is not s3bd's. The directory store is opened as a
// read-write mount opens it (exclusive flock), so a mounted one is refused.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "s3bd/cli/cli.h"
#include "s3bd/cli/progress.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/core/stack.h"
#include "s3bd/volume/lease.h"
#include "s3bd/cli/logging.h"

namespace s3bd {

namespace {

// s3bd's metadata objects, by MetaStore key.
bool IsMetaKey(std::string_view key) { return key == kVolumeMetaKey || key == kLeaseKey || key == kProbeKey; }

constexpr std::string_view kTmpPrefix = ".tmp-";  // directory store: a write in progress

enum class Kind { kBlock, kOutside, kMeta, kTemp, kForeign };

struct Sorted {
  Kind kind;
  BlockNum block = 0;
};

Sorted Sort(const OpenedVolume& v, bool is_s3, const StoredObject& o) {
  if (!o.regular) return {Kind::kForeign};
  if (auto b = v.parse_block(o.name)) return {*b < v.volume.geometry.num_blocks ? Kind::kBlock : Kind::kOutside, *b};
  const std::string_view name = o.name;
  if (name.substr(0, v.meta_prefix.size()) == v.meta_prefix && IsMetaKey(name.substr(v.meta_prefix.size()))) {
    return {Kind::kMeta};
  }
  if (!is_s3 && name.substr(0, kTmpPrefix.size()) == kTmpPrefix) return {Kind::kTemp};
  return {Kind::kForeign};
}

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
double PerSecond(double n, double s) { return s > 0 ? n / s : 0; }

// The last error line the S3 store logged on this thread: the detail of a
// failed read ("GET ...: the data received does not match its CRC-32C").
thread_local std::string t_last_error;

class CaptureSink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    t_last_error.assign(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}
};

// Block `b`'s read failure, without the store's "read of block N: ".
std::string ReadDetail(std::error_code ec) {
  std::string d = t_last_error;
  if (d.rfind("read of block ", 0) == 0) {
    if (auto colon = d.find(": "); colon != std::string::npos) d = d.substr(colon + 2);
  }
  return d.empty() ? ec.message() : d;
}

struct Problem {
  std::string name, kind, detail;
};

}  // namespace

int RunVerify(const StoreConfig& config, bool json, bool quiet) {
  try {
    auto sink = std::make_shared<CaptureSink>();
    auto logger = std::make_shared<spdlog::logger>("verify", sink);
    logger->set_level(spdlog::level::err);
    spdlog::set_default_logger(logger);

    OpenedVolume v = OpenVolume(config, /*unlock=*/true);
    const Geometry& g = v.volume.geometry;
    const auto start = std::chrono::steady_clock::now();
    std::vector<Problem> problems;
    std::vector<std::pair<BlockNum, std::string>> blocks;
    std::uint64_t objects = 0;
    std::string detail;
    if (auto ec = v.list(
            [&](const StoredObject& o) {
              ++objects;
              const Sorted s = Sort(v, config.is_s3, o);
              switch (s.kind) {
                case Kind::kBlock: blocks.emplace_back(s.block, o.name); break;
                case Kind::kOutside:
                  problems.push_back({o.name, "outside",
                                      fmt::format("block {} is outside the volume ({} blocks)", s.block,
                                                  g.num_blocks)});
                  break;
                case Kind::kForeign:
                  problems.push_back({o.name, "foreign",
                                      o.regular ? "not an s3bd object" : "not a regular file"});
                  break;
                case Kind::kMeta:
                case Kind::kTemp: break;
              }
            },
            &detail)) {
      throw StartupError(detail.empty() ? fmt::format("cannot list {}: {}", config.url, ec.message()) : detail);
    }

    // Every thread holds one block; at most 256 MiB of buffers in all.
    const unsigned threads = static_cast<unsigned>(std::clamp<std::uint64_t>(
        std::min<std::uint64_t>({v.parallel, (std::uint64_t{256} << 20) / g.block_size, blocks.size()}), 1, 256));
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex mu;  // guards problems
    Progress bar("verifying", quiet || json);
    auto worker = [&] {
      std::vector<std::uint8_t> buf(g.block_size);
      for (std::size_t i; (i = next++) < blocks.size();) {
        t_last_error.clear();
        if (auto ec = v.store->Read(blocks[i].first, buf)) {
          // A block that fails authentication (encrypted volume) is damaged like one
          // that fails its CRC: corrupt, not unreadable.
          const bool corrupt = ec == Errc::kCorruptBlock || ec == Errc::kBadBlockSize || ec == Errc::kAuthFailed;
          std::lock_guard lock(mu);
          problems.push_back({blocks[i].second, corrupt ? "corrupt" : "unreadable", ReadDetail(ec)});
        }
        ++done;
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    while (done.load() < blocks.size() && bar.shown()) {
      const double s = Seconds(std::chrono::steady_clock::now() - start);
      bar.Update(done, blocks.size(),
                 fmt::format("{} of {} blocks, {:.1f} MiB/s", done.load(), blocks.size(),
                             PerSecond(static_cast<double>(done * g.block_size) / 1048576.0, s)));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : pool) t.join();
    bar.Finish();
    const double secs = Seconds(std::chrono::steady_clock::now() - start);
    const double mib = static_cast<double>(blocks.size() * g.block_size) / 1048576.0;
    std::sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) { return a.name < b.name; });

    if (json) {
      nlohmann::ordered_json j;
      j["store"] = config.url;
      j["objects"] = objects;
      j["blocks_read"] = blocks.size();
      j["bytes_read"] = blocks.size() * g.block_size;
      j["seconds"] = secs;
      j["objects_per_second"] = PerSecond(static_cast<double>(objects), secs);
      j["mib_per_second"] = PerSecond(mib, secs);
      j["good"] = problems.empty();
      j["problems"] = nlohmann::ordered_json::array();
      for (const Problem& p : problems) j["problems"].push_back({{"name", p.name}, {"problem", p.kind}, {"detail", p.detail}});
      std::fputs((j.dump(2) + "\n").c_str(), stdout);
    } else {
      std::string out;
      for (const Problem& p : problems) out += fmt::format("{}: {}: {}\n", p.name, p.kind, p.detail);
      out += fmt::format("{}: {} objects, {} blocks read ({:.1f} MiB) in {:.2f} s: {:.0f} objects/s, {:.1f} MiB/s\n",
                         config.url, objects, blocks.size(), mib, secs, PerSecond(static_cast<double>(objects), secs),
                         PerSecond(mib, secs));
      out += problems.empty() ? "all good\n" : fmt::format("{} problem(s)\n", problems.size());
      std::fputs(out.c_str(), stdout);
    }
    return problems.empty() ? 0 : kExitFailure;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

int RunErase(const StoreConfig& config, bool yes, bool quiet) {
  try {
    if (!yes && !::isatty(0)) {
      throw UsageError(fmt::format("refusing to erase {} without --yes: stdin is not a terminal to confirm on",
                                   config.url));
    }
    OpenedVolume v = OpenVolume(config);
    if (v.volume.format == VolumeMeta::Format::kS3backer) {
      throw StartupError(fmt::format("{} is an s3backer volume: erase it with `s3backer --erase`", config.url));
    }
    const Geometry& g = v.volume.geometry;
    std::vector<std::string> blocks, meta;
    std::vector<std::string> foreign;
    std::uint64_t in_volume = 0;
    bool lease = false;
    std::string detail;
    if (auto ec = v.list(
            [&](const StoredObject& o) {
              const Sorted s = Sort(v, config.is_s3, o);
              switch (s.kind) {
                case Kind::kBlock: ++in_volume; [[fallthrough]];
                case Kind::kOutside:
                case Kind::kTemp: blocks.push_back(o.name); break;
                case Kind::kMeta:
                  if (o.name == v.meta_prefix + kLeaseKey) lease = true;
                  meta.push_back(o.name);
                  break;
                case Kind::kForeign: foreign.push_back(o.name); break;
              }
            },
            &detail)) {
      throw StartupError(detail.empty() ? fmt::format("cannot list {}: {}", config.url, ec.message()) : detail);
    }
    if (lease) {
      // A lease nobody renews any more (a crashed mount, or the `released`
      // record of a clean one) goes with the rest.
      LeaseOptions lo = DefaultLeaseOptions();
      lo.url = config.url;
      const FoundLease f = ReadLease(*v.meta, lo);
      if (f.present && !(f.readable && f.dead)) {
        throw StartupError(fmt::format("{} is mounted read-write by {}; unmount it first (or s3bd unlock a lease "
                                       "left by a machine that is gone)",
                                       config.url, f.holder));
      }
    }
    if (!yes) {
      std::fprintf(stderr, "Erase %s, %s in %llu blocks of %s, %llu blocks stored? Type yes to confirm: ",
                   config.url.c_str(), FormatSize(g.size()).c_str(), static_cast<unsigned long long>(g.num_blocks),
                   FormatSize(g.block_size).c_str(), static_cast<unsigned long long>(in_volume));
      std::string answer;
      if (!std::getline(std::cin, answer) || answer != "yes") {
        throw StartupError(fmt::format("not confirmed: nothing erased in {}", config.url));
      }
    }
    // The volume's metadata last, s3bd-volume after everything else.
    std::stable_partition(meta.begin(), meta.end(),
                          [&](const std::string& m) { return m != v.meta_prefix + kVolumeMetaKey; });

    const auto start = std::chrono::steady_clock::now();
    Progress bar("erasing", quiet);
    constexpr std::size_t kBatch = 1000;
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex mu;  // guards first_detail
    std::string first_detail;
    std::atomic<bool> failed{false};
    const unsigned threads = static_cast<unsigned>(
        std::clamp<std::size_t>(std::min<std::size_t>(v.parallel, (blocks.size() + kBatch - 1) / kBatch), 1, 8));
    auto worker = [&] {
      for (std::size_t off; !failed && (off = next.fetch_add(kBatch)) < blocks.size();) {
        const std::size_t n = std::min(kBatch, blocks.size() - off);
        std::string why;
        if (auto ec = v.remove(std::span<const std::string>(blocks).subspan(off, n), &why)) {
          std::lock_guard lock(mu);
          if (!failed.exchange(true)) first_detail = why.empty() ? ec.message() : why;
          return;
        }
        done += n;
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    while (done.load() < blocks.size() && !failed && bar.shown()) {
      bar.Update(done, blocks.size(), fmt::format("{} of {} objects", done.load(), blocks.size()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : pool) t.join();
    for (std::size_t i = 0; !failed && i < meta.size(); ++i) {
      std::string why;
      if (auto ec = v.remove(std::span<const std::string>(meta).subspan(i, 1), &why)) {
        failed = true;
        first_detail = why.empty() ? ec.message() : why;
      }
    }
    bar.Finish();
    if (failed) {
      throw StartupError(fmt::format("erasing {}: {} ({} of {} objects deleted)", config.url, first_detail,
                                     done.load(), blocks.size() + meta.size()));
    }
    const double secs = Seconds(std::chrono::steady_clock::now() - start);
    const std::size_t objects = blocks.size() + meta.size();
    if (!quiet) {
      std::string out = fmt::format("erased {}: {} objects ({} blocks, {} metadata) in {:.2f} s: {:.0f} objects/s\n",
                                    config.url, objects, blocks.size(), meta.size(), secs,
                                    PerSecond(static_cast<double>(objects), secs));
      if (!foreign.empty()) {
        out += fmt::format("kept {} object(s) that are not s3bd's, e.g. {}\n", foreign.size(), foreign.front());
      }
      std::fputs(out.c_str(), stdout);
    }
    return 0;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

}  // namespace s3bd
