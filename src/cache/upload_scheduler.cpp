// Upload scheduling of the block cache; the rules are in the header.
#include "s3bd/cache/upload_scheduler.h"

#include <algorithm>

namespace s3bd {

namespace {
// How long after a reader's fetch uploads stay limited (reads first).
constexpr std::chrono::milliseconds kReadsQuiet{100};
}  // namespace

UploadScheduler::UploadScheduler(const CacheConfig& config, unsigned workers)
    : write_delay_(config.write_delay),
      write_delay_max_(std::max<duration>(config.write_delay, config.write_delay_max)),
      read_priority_uploads_(std::max(2u, workers / 4)) {}

UploadScheduler::duration UploadScheduler::DelayFor(unsigned heat) const {
  if (write_delay_.count() == 0) return write_delay_;  // --write-delay 0: always at once
  duration d = write_delay_;
  for (unsigned i = 0; i < heat && d < write_delay_max_; ++i) d *= 2;  // never past 2 x cap: no overflow
  return std::min(d, write_delay_max_);
}

unsigned UploadScheduler::HeatUp(unsigned heat) {
  ++counters_.heat_ups;
  return std::min(heat + 1, kMaxHeat);
}

unsigned UploadScheduler::HeatOnDirty(unsigned heat, time_point stored_at, time_point now) {
  if (stored_at != time_point{} && now - stored_at < DelayFor(heat)) return HeatUp(heat);
  return 0;
}

bool UploadScheduler::DemandLoadEnded(time_point now) {
  reads_recent_until_ = now + kReadsQuiet;
  return --demand_loads_ == 0;
}

UploadScheduler::Decision UploadScheduler::Next(time_point now, std::size_t in_flight) {
  if (queue_.empty()) return {};
  // A reader that reads one block after another leaves gaps between its
  // fetches: the limit holds until kReadsQuiet after the last one.
  if (in_flight >= read_priority_uploads_ && (demand_loads_ > 0 || now < reads_recent_until_)) {
    ++counters_.held_for_reads;
    if (demand_loads_ > 0) return {};
    return {Decision::kWaitUntil, 0, reads_recent_until_};
  }
  const auto first = queue_.begin();
  if (urgent_ == 0 && first->first > now) return {Decision::kWaitUntil, 0, first->first};
  const BlockNum block = first->second;
  queue_.erase(first);
  return {Decision::kUpload, block, {}};
}

}  // namespace s3bd
