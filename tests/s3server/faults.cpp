// faults.cpp - implementation of the fault plan, its knob parser and the
// interruptible sleeper (faults.h).
#include "faults.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>
#include <vector>

#include "util.h"

namespace s3server {

namespace {

const char *const kOpNames[kNumOps] = {"get", "put", "delete", "list", "head", "any"};
const char *const kFaultNames[kNumFaults] = {"http500",  "slowdown", "reset",   "hang",
                                             "truncate", "stale",    "corrupt", "strip"};

int find_op(const std::string &s) {
  for (size_t i = 0; i < kNumOps; ++i)
    if (s == kOpNames[i]) return static_cast<int>(i);
  return -1;
}

int find_fault(const std::string &s) {
  for (size_t i = 0; i < kNumFaults; ++i)
    if (s == kFaultNames[i]) return static_cast<int>(i);
  if (s == "500") return static_cast<int>(Fault::Http500);
  if (s == "http503" || s == "503") return static_cast<int>(Fault::SlowDown);
  if (s == "truncated") return static_cast<int>(Fault::Truncate);
  if (s == "corrupted") return static_cast<int>(Fault::Corrupt);
  return -1;
}

bool parse_double(const std::string &v, double &out) {
  std::string t = trim(v);
  if (t.empty()) return false;
  char *end = nullptr;
  out = std::strtod(t.c_str(), &end);
  return end && *end == '\0' && std::isfinite(out);
}

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Short form when it round-trips.
  char shortbuf[64];
  std::snprintf(shortbuf, sizeof shortbuf, "%g", v);
  return std::strtod(shortbuf, nullptr) == v ? shortbuf : buf;
}

// A minimal JSON reader for flat or nested objects of scalars; nested keys are
// joined with '.'. Arrays are rejected.
class JsonFlattener {
 public:
  explicit JsonFlattener(const std::string &s) : s_(s) {}

  bool parse(std::vector<std::pair<std::string, std::string>> &out, std::string &err) {
    skip_ws();
    if (!object("", out)) {
      err = "malformed JSON near offset " + std::to_string(pos_);
      return false;
    }
    skip_ws();
    if (pos_ != s_.size()) {
      err = "trailing characters after JSON object";
      return false;
    }
    return true;
  }

 private:
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' ||
                                s_[pos_] == '\r' || s_[pos_] == '\t'))
      ++pos_;
  }
  bool string(std::string &out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) return false;
        char e = s_[pos_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': {
            if (pos_ + 4 > s_.size()) return false;
            unsigned v = static_cast<unsigned>(std::strtoul(s_.substr(pos_, 4).c_str(), nullptr, 16));
            pos_ += 4;
            if (v < 0x80) {
              out += static_cast<char>(v);
            } else if (v < 0x800) {
              out += static_cast<char>(0xC0 | (v >> 6));
              out += static_cast<char>(0x80 | (v & 0x3F));
            } else {
              out += static_cast<char>(0xE0 | (v >> 12));
              out += static_cast<char>(0x80 | ((v >> 6) & 0x3F));
              out += static_cast<char>(0x80 | (v & 0x3F));
            }
            break;
          }
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  bool object(const std::string &prefix,
              std::vector<std::pair<std::string, std::string>> &out) {
    if (pos_ >= s_.size() || s_[pos_] != '{') return false;
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      std::string key;
      if (!string(key)) return false;
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return false;
      ++pos_;
      skip_ws();
      if (pos_ >= s_.size()) return false;
      if (s_[pos_] == '{') {
        if (!object(prefix + key + ".", out)) return false;
      } else if (s_[pos_] == '"') {
        std::string v;
        if (!string(v)) return false;
        out.emplace_back(prefix + key, v);
      } else {
        size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '}' &&
               s_[pos_] != ' ' && s_[pos_] != '\n' && s_[pos_] != '\r' && s_[pos_] != '\t')
          ++pos_;
        std::string v = s_.substr(start, pos_ - start);
        if (v.empty() || v[0] == '[') return false;
        if (v == "true") v = "1";
        if (v == "false") v = "0";
        out.emplace_back(prefix + key, v);
      }
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  const std::string &s_;
  size_t pos_ = 0;
};

}  // namespace

const char *op_name(Op op) { return kOpNames[static_cast<size_t>(op)]; }
const char *fault_name(Fault f) { return kFaultNames[static_cast<size_t>(f)]; }

FaultPlan::FaultPlan(uint64_t seed) : seed_(seed), rng_(seed) {}

std::string FaultPlan::set_locked(FaultConfig &cfg, const std::string &key_in,
                                  const std::string &value, uint64_t *new_seed) {
  std::string key = to_lower(trim(key_in));
  if (key.rfind("rates.", 0) == 0) key.erase(0, 6);
  // Read-only fields of the JSON form of the config are ignored.
  if (key.rfind("outage.", 0) == 0) return "";
  double d = 0;
  if (key == "latency_ms" || key == "latency") {
    if (!parse_double(value, d) || d < 0) return "bad latency_ms: " + value;
    cfg.latency_ms = d;
    return "";
  }
  if (key == "jitter_ms" || key == "jitter") {
    if (!parse_double(value, d) || d < 0) return "bad jitter_ms: " + value;
    cfg.jitter_ms = d;
    return "";
  }
  if (key == "bandwidth" || key == "bandwidth_bps") {
    auto v = parse_size(value);
    if (!v) return "bad bandwidth: " + value;
    cfg.bandwidth = *v;
    return "";
  }
  if (key == "hang_ms") {
    if (!parse_double(value, d) || d < 0) return "bad hang_ms: " + value;
    cfg.hang_ms = static_cast<int64_t>(d);
    return "";
  }
  if (key == "stale_ms") {
    if (!parse_double(value, d) || d < 0) return "bad stale_ms: " + value;
    cfg.stale_ms = static_cast<int64_t>(d);
    return "";
  }
  if (key == "conditions") {
    const std::string v = to_lower(trim(value));
    if (v != "honour" && v != "honor" && v != "ignore" && v != "rgw")
      return "conditions accepts honour, ignore or rgw: " + value;
    cfg.ignore_conditions = v == "ignore";
    cfg.rgw_if_match = v == "rgw";
    return "";
  }
  if (key == "seed") {
    std::string t = trim(value);
    char *end = nullptr;
    uint64_t s = std::strtoull(t.c_str(), &end, 10);
    if (t.empty() || !end || *end != '\0') return "bad seed: " + value;
    *new_seed = s;
    return "";
  }
  if (key == "faults") {
    if (to_lower(trim(value)) != "none" && trim(value) != "0")
      return "faults accepts only 'none'";
    for (auto &row : cfg.rates) row.fill(0);
    return "";
  }
  std::string op = "any", fault = key;
  size_t dot = key.find('.');
  if (dot != std::string::npos) {
    op = key.substr(0, dot);
    fault = key.substr(dot + 1);
  }
  int oi = find_op(op), fi = find_fault(fault);
  if (oi < 0 || fi < 0) return "unknown knob: " + key_in;
  if (!parse_double(value, d) || d < 0 || d > 1)
    return "bad probability for " + key_in + ": " + value;
  cfg.rates[static_cast<size_t>(oi)][static_cast<size_t>(fi)] = d;
  return "";
}

void FaultPlan::update_stale_flag() {
  bool any = false;
  for (auto &row : cfg_.rates) any = any || row[static_cast<size_t>(Fault::Stale)] > 0;
  stale_enabled_ = any;
  ignore_conditions_ = cfg_.ignore_conditions;
  rgw_if_match_ = cfg_.rgw_if_match;
}

std::string FaultPlan::set(const std::string &key, const std::string &value) {
  std::lock_guard lock(mu_);
  FaultConfig cfg = cfg_;
  uint64_t new_seed = seed_;
  std::string err = set_locked(cfg, key, value, &new_seed);
  if (!err.empty()) return err;
  cfg_ = cfg;
  if (new_seed != seed_) {
    seed_ = new_seed;
    rng_.seed(new_seed);
  }
  update_stale_flag();
  return "";
}

std::string FaultPlan::set_many(const std::string &body) {
  std::vector<std::pair<std::string, std::string>> kvs;
  std::string t = trim(body);
  if (!t.empty() && t[0] == '{') {
    std::string err;
    if (!JsonFlattener(t).parse(kvs, err)) return err;
  } else {
    size_t pos = 0;
    while (pos <= t.size()) {
      size_t end = t.find_first_of("&\n", pos);
      if (end == std::string::npos) end = t.size();
      std::string item = trim(std::string_view(t).substr(pos, end - pos));
      pos = end + 1;
      if (item.empty()) continue;
      size_t eq = item.find('=');
      if (eq == std::string::npos) return "expected key=value, got: " + item;
      kvs.emplace_back(url_decode(item.substr(0, eq), true),
                       url_decode(item.substr(eq + 1), true));
    }
  }
  std::lock_guard lock(mu_);
  FaultConfig cfg = cfg_;
  uint64_t new_seed = seed_;
  for (auto &[k, v] : kvs) {
    std::string err = set_locked(cfg, k, v, &new_seed);
    if (!err.empty()) return err;
  }
  cfg_ = cfg;
  if (new_seed != seed_) {
    seed_ = new_seed;
    rng_.seed(new_seed);
  }
  update_stale_flag();
  return "";
}

FaultConfig FaultPlan::config() const {
  std::lock_guard lock(mu_);
  return cfg_;
}

void FaultPlan::set_config(const FaultConfig &cfg) {
  std::lock_guard lock(mu_);
  cfg_ = cfg;
  update_stale_flag();
}

uint64_t FaultPlan::seed() const {
  std::lock_guard lock(mu_);
  return seed_;
}

Decision FaultPlan::decide(Op op) {
  Decision d;
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (size_t f = 0; f < kNumFaults; ++f) {
    double p_op = cfg_.rate(op, static_cast<Fault>(f));
    double p_any = cfg_.rate(Op::Any, static_cast<Fault>(f));
    double p = 1.0 - (1.0 - p_op) * (1.0 - p_any);
    double x = u(rng_);
    d.fault[f] = p >= 1.0 || x < p;
  }
  double jitter = u(rng_) * cfg_.jitter_ms;
  d.latency_us = static_cast<int64_t>((cfg_.latency_ms + jitter) * 1000.0);
  d.cut_fraction = 0.25 + 0.5 * u(rng_);
  d.rnd = rng_();
  d.bandwidth = cfg_.bandwidth;
  d.hang_ms = cfg_.hang_ms;
  d.stale_ms = cfg_.stale_ms;
  return d;
}

void FaultPlan::start_outage(double seconds, OutageMode mode) {
  std::lock_guard lock(mu_);
  outage_mode_ = mode;
  outage_until_ = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

int64_t FaultPlan::outage_remaining_ms(OutageMode *mode) const {
  std::lock_guard lock(mu_);
  if (mode) *mode = outage_mode_;
  auto left = outage_until_ - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  // Round up so a window that has not ended never reports 0.
  return std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1;
}

std::string FaultPlan::to_json() const {
  OutageMode mode;
  int64_t outage = outage_remaining_ms(&mode);
  std::lock_guard lock(mu_);
  std::ostringstream os;
  os << "{\"seed\":" << seed_ << ",\"latency_ms\":" << fmt_double(cfg_.latency_ms)
     << ",\"jitter_ms\":" << fmt_double(cfg_.jitter_ms)
     << ",\"bandwidth\":" << cfg_.bandwidth << ",\"hang_ms\":" << cfg_.hang_ms
     << ",\"stale_ms\":" << cfg_.stale_ms
     << ",\"conditions\":\"" << (cfg_.ignore_conditions ? "ignore" : cfg_.rgw_if_match ? "rgw" : "honour") << "\",\"rates\":{";
  for (size_t o = 0; o < kNumOps; ++o) {
    os << (o ? "," : "") << '"' << kOpNames[o] << "\":{";
    for (size_t f = 0; f < kNumFaults; ++f)
      os << (f ? "," : "") << '"' << kFaultNames[f] << "\":" << fmt_double(cfg_.rates[o][f]);
    os << '}';
  }
  os << "},\"outage\":{\"remaining_ms\":" << outage << ",\"mode\":\""
     << (mode == OutageMode::Reset ? "reset" : "503") << "\"}}";
  return os.str();
}

bool Sleeper::sleep_ms(double ms) {
  if (ms <= 0) return true;
  std::unique_lock lock(mu_);
  uint64_t gen = generation_;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(ms * 1000.0));
  return !cv_.wait_until(lock, deadline,
                         [&] { return generation_ != gen || stopping_.load(); });
}

void Sleeper::interrupt_all() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

void Sleeper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    ++generation_;
  }
  cv_.notify_all();
}

}  // namespace s3server
