// The block map layer. See the header for the states and rules.
#include "s3bd/map/block_map.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

namespace s3bd {

namespace {

constexpr std::uint64_t kMask = 3;

// A word whose 32 states are all `s`.
std::uint64_t Replicate(std::uint8_t s) { return std::uint64_t{s} * 0x5555555555555555ull; }

const char* SurveyName(BlockMapStore::Survey s) {
  switch (s) {
    case BlockMapStore::Survey::kNotStarted: return "not started";
    case BlockMapStore::Survey::kRunning: return "running";
    case BlockMapStore::Survey::kDone: return "done";
    case BlockMapStore::Survey::kFailed: return "failed";
  }
  return "?";
}

const char* SourceName(BlockMapStore::Source s) {
  switch (s) {
    case BlockMapStore::Source::kNone: return "none";
    case BlockMapStore::Source::kSurvey: return "survey";
    case BlockMapStore::Source::kCacheFile: return "cache-file";
  }
  return "?";
}

}  // namespace

BlockMapStore::BlockMapStore(std::unique_ptr<BlockStore> next)
    : ForwardingStore("map", std::move(next)) {
  tables_.push_back(std::make_unique<PageTable>((geometry().num_blocks + kPageBlocks - 1) / kPageBlocks));
  table_.store(tables_.back().get(), std::memory_order_release);
  count_[static_cast<int>(State::kUnknown)] = geometry().num_blocks;
  count_[static_cast<int>(State::kAbsent)] = 0;
  count_[static_cast<int>(State::kPresent)] = 0;
}

BlockMapStore::~BlockMapStore() {
  if (survey_thread_.joinable()) survey_thread_.join();
  const PageTable* t = table_.load();
  for (std::uint64_t p = 0; p < t->count; ++p) delete[] t->pages[p].words.load();
  for (auto* w : retired_words_) delete[] w;
}

std::uint64_t BlockMapStore::BlocksIn(std::uint64_t page) const {
  const std::uint64_t n = geometry().num_blocks;
  return page * kPageBlocks >= n ? 0 : std::min(kPageBlocks, n - page * kPageBlocks);
}

void BlockMapStore::Moved(State from, State to, std::uint64_t n) {
  if (from == to || n == 0) return;
  count_[static_cast<int>(from)].fetch_sub(n, std::memory_order_relaxed);
  count_[static_cast<int>(to)].fetch_add(n, std::memory_order_relaxed);
}

BlockMapStore::State BlockMapStore::state(BlockNum block) const {
  const PageTable* t = table_.load(std::memory_order_acquire);
  if (block / kPageBlocks >= t->count) return State::kUnknown;  // past a new end (a resize under way)
  const Page& p = t->pages[block / kPageBlocks];
  const std::atomic<std::uint64_t>* w = p.words.load(std::memory_order_acquire);
  if (w == nullptr) return static_cast<State>(p.fill.load(std::memory_order_acquire));
  const std::uint64_t i = block % kPageBlocks;
  return static_cast<State>((w[i / 32].load(std::memory_order_acquire) >> (2 * (i % 32))) & kMask);
}

std::atomic<std::uint64_t>* BlockMapStore::Words(std::uint64_t page) {
  if (auto* w = pages()[page].words.load(std::memory_order_acquire)) return w;
  std::lock_guard lock(alloc_mu_);
  Page& p = pages()[page];  // the table now (a resize may have replaced it)
  if (auto* w = p.words.load(std::memory_order_acquire)) return w;
  auto* w = new std::atomic<std::uint64_t>[kWordsPerPage];
  const std::uint64_t fill = Replicate(p.fill.load(std::memory_order_relaxed));
  for (std::uint64_t i = 0; i < kWordsPerPage; ++i) w[i].store(fill, std::memory_order_relaxed);
  p.words.store(w, std::memory_order_release);
  return w;
}

void BlockMapStore::Set(BlockNum block, State s) {
  if (state(block) == s) return;  // nothing to change: no page to allocate
  std::atomic<std::uint64_t>& word = Words(block / kPageBlocks)[(block % kPageBlocks) / 32];
  const unsigned shift = 2 * ((block % kPageBlocks) % 32);
  std::uint64_t old = word.load(std::memory_order_acquire);
  while (!word.compare_exchange_weak(old, (old & ~(kMask << shift)) | (std::uint64_t{static_cast<std::uint8_t>(s)} << shift),
                                     std::memory_order_acq_rel)) {
  }
  Moved(static_cast<State>((old >> shift) & kMask), s, 1);
}

void BlockMapStore::SetIfUnknown(BlockNum block, State s) {
  std::atomic<std::uint64_t>& word = Words(block / kPageBlocks)[(block % kPageBlocks) / 32];
  const unsigned shift = 2 * ((block % kPageBlocks) % 32);
  std::uint64_t old = word.load(std::memory_order_acquire);
  do {
    if (((old >> shift) & kMask) != static_cast<std::uint8_t>(State::kUnknown)) return;
  } while (!word.compare_exchange_weak(
      old, old | (std::uint64_t{static_cast<std::uint8_t>(s)} << shift), std::memory_order_acq_rel));
  Moved(State::kUnknown, s, 1);
}

void BlockMapStore::ApplyPage(std::uint64_t page, const BlockNum* listed, std::size_t count) {
  const BlockNum first = page * kPageBlocks, end = first + BlocksIn(page);
  if (count == 0) {
    // Nothing listed: a page this mount never touched just changes its fill.
    std::unique_lock lock(alloc_mu_);
    Page& p = pages()[page];
    if (p.words.load(std::memory_order_acquire) == nullptr) {
      if (p.fill.load(std::memory_order_relaxed) == static_cast<std::uint8_t>(State::kUnknown)) {
        p.fill.store(static_cast<std::uint8_t>(State::kAbsent), std::memory_order_release);
        Moved(State::kUnknown, State::kAbsent, end - first);
      }
      return;
    }
  }
  std::size_t next = 0;
  for (BlockNum b = first; b < end; ++b) {
    const bool present = next < count && listed[next] == b;
    if (present) ++next;
    SetIfUnknown(b, present ? State::kPresent : State::kAbsent);
  }
}

std::error_code BlockMapStore::RunSurvey() {
  Survey expected = Survey::kNotStarted;
  if (!survey_.compare_exchange_strong(expected, Survey::kRunning)) return {};
  return SurveyNow();
}

void BlockMapStore::StartSurvey() {
  Survey expected = Survey::kNotStarted;
  if (!survey_.compare_exchange_strong(expected, Survey::kRunning)) return;
  // spdlog builds its registry on first use: build it here, not first in the
  // survey thread, where ThreadSanitizer (which cannot see the guard of a
  // static inside the uninstrumented libspdlog) reported its later use from
  // this thread as a race.
  (void)spdlog::default_logger_raw();
  survey_thread_ = std::thread([this] { (void)SurveyNow(); });
}

void BlockMapStore::WaitForSurvey() {
  if (survey_thread_.joinable()) survey_thread_.join();
}

std::error_code BlockMapStore::SurveyNow() {
  const std::error_code ec =
      Build([this](const std::function<void(BlockNum)>& fn) { return next().ListNonZero(fn); }, Source::kSurvey);
  if (ec) {
    spdlog::warn("block map: the survey of the store failed ({}); blocks not written by this mount are asked for "
                 "as without a map",
                 ec.message());
    EndSurvey(Survey::kFailed);
  }
  return ec;
}

std::error_code BlockMapStore::Load(const Lister& saved) {
  Survey expected = Survey::kNotStarted;
  if (!survey_.compare_exchange_strong(expected, Survey::kRunning)) {
    return std::make_error_code(std::errc::operation_in_progress);
  }
  const std::error_code ec = Build(saved, Source::kCacheFile);
  if (ec) {
    source_.store(Source::kNone, std::memory_order_release);
    EndSurvey(Survey::kNotStarted);
  }
  return ec;
}

std::error_code BlockMapStore::Build(const Lister& list, Source source) {
  source_.store(source, std::memory_order_release);
  const auto start = std::chrono::steady_clock::now();
  const BlockNum n = geometry().num_blocks;
  std::vector<BlockNum> listed;
  if (auto ec = list([&](BlockNum b) {
        if (b < n) listed.push_back(b);
      })) {
    return ec;
  }
  std::sort(listed.begin(), listed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  std::size_t i = 0;
  for (std::uint64_t page = 0; page < num_pages(); ++page) {
    const BlockNum end = page * kPageBlocks + BlocksIn(page);
    std::size_t j = i;
    while (j < listed.size() && listed[j] < end) ++j;
    ApplyPage(page, listed.data() + i, j - i);
    i = j;
    surveyed_blocks_.store(end, std::memory_order_relaxed);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  survey_seconds_.store(seconds, std::memory_order_relaxed);
  EndSurvey(Survey::kDone);
  if (source == Source::kCacheFile) {
    spdlog::info("block map: loaded the map saved in the cache file ({} blocks, {} may hold data): no survey", n,
                 listed.size());
  } else {
    spdlog::info("block map: surveyed {} blocks in {:.1f} s: {} may hold data", n, seconds, listed.size());
  }
  return {};
}

void BlockMapStore::EndSurvey(Survey s) {
  {
    std::lock_guard lock(survey_mu_);
    survey_.store(s, std::memory_order_release);
  }
  survey_cv_.notify_all();
}

void BlockMapStore::AwaitSurvey() {
  std::unique_lock lock(survey_mu_);
  survey_cv_.wait(lock, [this] { return survey() != Survey::kRunning; });
}

namespace {

BlockMapStore::State StateAt(const std::atomic<std::uint64_t>* w, std::uint64_t i) {
  return static_cast<BlockMapStore::State>((w[i / 32].load(std::memory_order_acquire) >> (2 * (i % 32))) & kMask);
}

void SetAt(std::atomic<std::uint64_t>* w, std::uint64_t i, BlockMapStore::State s) {
  std::atomic<std::uint64_t>& word = w[i / 32];
  const unsigned shift = 2 * (i % 32);
  std::uint64_t old = word.load(std::memory_order_acquire);
  while (!word.compare_exchange_weak(old, (old & ~(kMask << shift)) | (std::uint64_t{static_cast<std::uint8_t>(s)} << shift),
                                     std::memory_order_acq_rel)) {
  }
}

}  // namespace

std::error_code BlockMapStore::DoResize(std::uint64_t num_blocks) {
  if (num_blocks > kMaxBlocks) return std::make_error_code(std::errc::file_too_large);
  if (survey() == Survey::kRunning) return std::make_error_code(std::errc::device_or_resource_busy);
  if (auto ec = ForwardingStore::DoResize(num_blocks)) return ec;
  const std::uint64_t old = geometry().num_blocks;
  // No object lies past the end of a volume: once the map knows every
  // block, the new ones are known to have none.
  const State fresh = survey() == Survey::kDone ? State::kAbsent : State::kUnknown;
  std::lock_guard lock(alloc_mu_);
  PageTable* cur = table_.load(std::memory_order_acquire);
  if (num_blocks < old) {
    for (BlockNum b = num_blocks; b < old;) {
      const std::uint64_t page = b / kPageBlocks;
      const BlockNum page_end = std::min((page + 1) * kPageBlocks, old);
      const Page& p = cur->pages[page];
      if (const auto* w = p.words.load(std::memory_order_acquire)) {
        for (BlockNum x = b; x < page_end; ++x) {
          count_[static_cast<int>(StateAt(w, x % kPageBlocks))].fetch_sub(1, std::memory_order_relaxed);
        }
      } else {
        count_[p.fill.load(std::memory_order_relaxed)].fetch_sub(page_end - b, std::memory_order_relaxed);
      }
      b = page_end;
    }
  } else {
    // The old last page's tail may hold the states of blocks an earlier
    // shrink cut off: they start afresh.
    const std::uint64_t page = old / kPageBlocks;
    if (old % kPageBlocks != 0 && page < cur->count) {
      Page& p = cur->pages[page];
      auto* w = p.words.load(std::memory_order_acquire);
      if (w == nullptr && p.fill.load(std::memory_order_relaxed) != static_cast<std::uint8_t>(fresh)) {
        w = new std::atomic<std::uint64_t>[kWordsPerPage];
        const std::uint64_t fill = Replicate(p.fill.load(std::memory_order_relaxed));
        for (std::uint64_t i = 0; i < kWordsPerPage; ++i) w[i].store(fill, std::memory_order_relaxed);
        p.words.store(w, std::memory_order_release);
      }
      if (w != nullptr) {
        const BlockNum end = std::min((page + 1) * kPageBlocks, num_blocks);
        for (BlockNum x = old; x < end; ++x) SetAt(w, x % kPageBlocks, fresh);
      }
    }
    count_[static_cast<int>(fresh)].fetch_add(num_blocks - old, std::memory_order_relaxed);
  }
  const std::uint64_t new_pages = (num_blocks + kPageBlocks - 1) / kPageBlocks;
  if (new_pages != cur->count) {
    auto t = std::make_unique<PageTable>(new_pages);
    for (std::uint64_t i = 0; i < new_pages; ++i) {
      if (i < cur->count) {
        t->pages[i].words.store(cur->pages[i].words.load(std::memory_order_acquire), std::memory_order_relaxed);
        t->pages[i].fill.store(cur->pages[i].fill.load(std::memory_order_relaxed), std::memory_order_relaxed);
      } else {
        t->pages[i].fill.store(static_cast<std::uint8_t>(fresh), std::memory_order_relaxed);
      }
    }
    for (std::uint64_t i = new_pages; i < cur->count; ++i) {
      if (auto* w = cur->pages[i].words.load(std::memory_order_acquire)) retired_words_.push_back(w);
    }
    table_.store(t.get(), std::memory_order_release);
    tables_.push_back(std::move(t));
  }
  if (fresh == State::kAbsent) surveyed_blocks_.store(num_blocks, std::memory_order_relaxed);
  return {};
}

std::error_code BlockMapStore::DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) {
  if (state(block) == State::kAbsent) {
    std::memset(out.data(), 0, out.size());
    if (version) *version = {};
    reads_saved_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  return ForwardingStore::DoRead(block, out, version);
}

std::error_code BlockMapStore::DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) {
  if (state(block) == State::kAbsent) {
    std::memset(out.data(), 0, out.size());
    reads_saved_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  return next().ReadPart(block, offset, out);
}

std::error_code BlockMapStore::DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) {
  Set(block, State::kPresent);  // M1: before the write, which may land even if it fails
  return ForwardingStore::DoWrite(block, data, version);
}

std::error_code BlockMapStore::DoZero(BlockNum block) {
  if (state(block) == State::kAbsent) {
    zeros_saved_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  if (auto ec = ForwardingStore::DoZero(block)) return ec;  // M2: the state stays
  Set(block, State::kAbsent);
  return {};
}

std::error_code BlockMapStore::DoRevalidate(BlockNum block, const ObjectVersion& v, std::span<std::uint8_t> out,
                                            bool* fresh, ObjectVersion* now) {
  if (state(block) == State::kAbsent) {
    std::memset(out.data(), 0, out.size());
    *fresh = true;
    if (now) *now = {};
    reads_saved_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  return next().Revalidate(block, v, out, fresh, now);
}

std::error_code BlockMapStore::DoListNonZero(const std::function<void(BlockNum)>& fn) {
  if (!ForEachPresent(fn)) return ForwardingStore::DoListNonZero(fn);
  return {};
}

bool BlockMapStore::ForEachPresent(const std::function<void(BlockNum)>& fn) const {
  if (survey() != Survey::kDone) return false;
  const PageTable* t = table_.load(std::memory_order_acquire);
  for (std::uint64_t page = 0; page < t->count; ++page) {
    const std::atomic<std::uint64_t>* w = t->pages[page].words.load(std::memory_order_acquire);
    if (w == nullptr) continue;  // all ABSENT (a fill is never PRESENT)
    const BlockNum first = page * kPageBlocks, end = first + BlocksIn(page);
    for (BlockNum b = first; b < end; ++b) {
      const std::uint64_t i = b - first;
      const auto s = static_cast<State>((w[i / 32].load(std::memory_order_acquire) >> (2 * (i % 32))) & kMask);
      if (s == State::kPresent) fn(b);
    }
  }
  return true;
}

void BlockMapStore::FillOwnStats(StatsJson& j) const {
  const Survey s = survey();
  j["surveyed"] = s == Survey::kDone;
  j["survey"] = SurveyName(s);
  j["source"] = SourceName(source());
  j["survey_s"] = survey_seconds_.load(std::memory_order_relaxed);
  j["surveyed_blocks"] = surveyed_blocks_.load(std::memory_order_relaxed);
  j["known_present"] = count_[static_cast<int>(State::kPresent)].load(std::memory_order_relaxed);
  j["known_absent"] = count_[static_cast<int>(State::kAbsent)].load(std::memory_order_relaxed);
  j["unknown"] = count_[static_cast<int>(State::kUnknown)].load(std::memory_order_relaxed);
  j["reads_saved"] = reads_saved_.load(std::memory_order_relaxed);
  j["zeros_saved"] = zeros_saved_.load(std::memory_order_relaxed);
  MarkGauges(j, {"surveyed_blocks", "known_present", "known_absent", "unknown"});
}

}  // namespace s3bd
