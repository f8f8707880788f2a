// Outage lines and state; see include/s3bd/s3/outage.h.
#include "s3bd/s3/outage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace s3bd::s3 {

namespace {

double SecondsOf(OutageMonitor::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

OutageMonitor::OutageMonitor(std::string endpoint, std::chrono::seconds interval, LogFn log, NowFn now)
    : endpoint_(std::move(endpoint)),
      interval_(interval),
      log_(log ? std::move(log) : LogFn([](const std::string& line) { spdlog::warn("{}", line); })),
      now_(now ? std::move(now) : NowFn([] { return Clock::now(); })) {}

void OutageMonitor::SetPlan(std::string plan) {
  std::lock_guard lock(mu_);
  plan_ = std::move(plan);
}

void OutageMonitor::Log(const std::string& line) {
  any_line_ = true;
  last_line_ = now_();
  log_(line);
}

void OutageMonitor::Failed(std::string_view why) {
  std::lock_guard lock(mu_);
  const auto now = now_();
  why_ = std::string(why);
  const std::string plan = plan_.empty() ? "" : "; " + plan_;
  if (!failing_) {
    failing_ = true;
    since_ = now;
    retries_ = 1;
    ++outages_;
    announced_ = !any_line_ || now - last_line_ >= interval_;
    if (announced_) Log(fmt::format("requests to {} are failing: {}{}", endpoint_, why_, plan));
    return;
  }
  ++retries_;
  if (now - last_line_ >= interval_) {
    announced_ = true;
    Log(fmt::format("requests to {} have been failing for {:.0f} s ({} retries, {} requests waiting): {}{}",
                    endpoint_, SecondsOf(now - since_), retries_, waiting_, why_, plan));
  }
}

void OutageMonitor::Succeeded() {
  if (!failing_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mu_);
  if (!failing_) return;
  failing_ = false;
  if (announced_) {
    Log(fmt::format("requests to {} succeed again after {:.1f} s ({} retries)", endpoint_,
                    SecondsOf(now_() - since_), retries_));
  }
}

void OutageMonitor::Waiting(int delta) {
  std::lock_guard lock(mu_);
  waiting_ += delta;
}

bool OutageMonitor::failing() const {
  std::lock_guard lock(mu_);
  return failing_;
}

std::uint64_t OutageMonitor::outages() const {
  std::lock_guard lock(mu_);
  return outages_;
}

void OutageMonitor::Fill(StatsJson& j) const {
  std::lock_guard lock(mu_);
  j["failing"] = failing_.load();
  j["outages"] = outages_;
  j["failing_for_s"] = failing_ ? SecondsOf(now_() - since_) : 0.0;
  j["retries"] = failing_ ? retries_ : 0;
  j["requests_waiting"] = failing_ ? waiting_ : 0;
  j["reason"] = failing_ ? why_ : std::string();
  MarkGauges(j, {"failing", "retries", "requests_waiting"});  // of the outage in progress
}

void OutageMonitor::Print(std::ostream& os) const {
  StatsJson j;
  Fill(j);
  RenderOutageText(os, j);
}

}  // namespace s3bd::s3
