// Fault-injecting layer; see the header.
#include "s3bd/store/fault_store.h"

#include <sstream>

#include <fmt/format.h>

#include "s3bd/core/errors.h"

namespace s3bd {

FaultSpec FaultSpec::Parse(const std::string& text) {
  FaultSpec spec;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw StartupError("fault spec: expected op=probability, got '" + item + "'");
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    try {
      std::size_t used = 0;
      if (key == "seed") {
        spec.seed = std::stoull(val, &used);
      } else {
        const double p = std::stod(val, &used);
        if (p < 0 || p > 1) throw std::out_of_range("probability");
        if (key == "read") spec.read = p;
        else if (key == "write") spec.write = p;
        else if (key == "zero") spec.zero = p;
        else if (key == "flush") spec.flush = p;
        else if (key == "list") spec.list = p;
        else throw StartupError("fault spec: unknown operation '" + key + "'");
      }
      if (used != val.size()) throw std::invalid_argument("trailing");
    } catch (const StartupError&) {
      throw;
    } catch (const std::exception&) {
      throw StartupError("fault spec: bad value in '" + item + "'");
    }
  }
  return spec;
}

FaultStore::FaultStore(std::unique_ptr<BlockStore> next, FaultSpec spec)
    : ForwardingStore("faults", std::move(next)), spec_(spec), rng_(spec.seed) {}

void FaultStore::SetSpec(const FaultSpec& spec) {
  std::lock_guard lock(mu_);
  spec_ = spec;
}

bool FaultStore::Fail(double FaultSpec::*rate) {
  std::lock_guard lock(mu_);
  const double p = spec_.*rate;
  if (p <= 0) return false;
  if (p < 1 && std::uniform_real_distribution<double>(0, 1)(rng_) >= p) return false;
  injected_.fetch_add(1);
  return true;
}

std::error_code FaultStore::DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) {
  if (Fail(&FaultSpec::read)) return std::make_error_code(std::errc::io_error);
  return ForwardingStore::DoRead(block, out, version);
}
std::error_code FaultStore::DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) {
  if (Fail(&FaultSpec::write)) return std::make_error_code(std::errc::io_error);
  return ForwardingStore::DoWrite(block, data, version);
}
std::error_code FaultStore::DoZero(BlockNum block) {
  if (Fail(&FaultSpec::zero)) return std::make_error_code(std::errc::io_error);
  return ForwardingStore::DoZero(block);
}
std::error_code FaultStore::DoFlush(FlushLevel level) {
  if (Fail(&FaultSpec::flush)) return std::make_error_code(std::errc::io_error);
  return ForwardingStore::DoFlush(level);
}
std::error_code FaultStore::DoListNonZero(const std::function<void(BlockNum)>& fn) {
  if (Fail(&FaultSpec::list)) return std::make_error_code(std::errc::io_error);
  return ForwardingStore::DoListNonZero(fn);
}
std::error_code FaultStore::DoRevalidate(BlockNum block, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh, ObjectVersion* now) {
  if (Fail(&FaultSpec::read)) return std::make_error_code(std::errc::io_error);
  return next().Revalidate(block, v, out, fresh, now);
}

void FaultStore::FillOwnStats(StatsJson& j) const { j["injected_faults"] = injected_.load(); }

}  // namespace s3bd
