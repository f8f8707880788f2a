// The stats tree as Prometheus metrics; the names are in the header.
#include "s3bd/metrics/prometheus.h"

#include <map>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace s3bd {

namespace {

// Own keys of the layers that are levels (can go down), not counts.
// Own keys left out: derived (averages, percentiles) or not a quantity.
const std::set<std::string, std::less<>> kSkipped = {"latency_avg_ms", "latency_p99_ms", "total_requests",
                                                     "read_ahead_max_window_blocks", "version", "pid"};

std::string Snake(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (ok) {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

// A label value: backslash, double quote and newline escaped.
std::string LabelValue(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(const StatsJson& v) {
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return fmt::format("{}", v.get<double>());
}

// Every family once, with its HELP and TYPE, then its samples.
class Families {
 public:
  void Add(const std::string& name, const char* type, const std::string& help, const std::string& labels,
           const std::string& value) {
    AddRaw(name, type, help,
           labels.empty() ? fmt::format("{} {}", name, value) : fmt::format("{}{{{}}} {}", name, labels, value));
  }
  // A sample line as given (a histogram's name_bucket, name_sum, name_count
  // lines) under the family `name`.
  void AddRaw(const std::string& name, const char* type, const std::string& help, std::string sample) {
    Family& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      f.help = help;
      order_.push_back(name);
    }
    f.samples.push_back(std::move(sample));
  }
  std::string Text() const {
    std::string out;
    for (const std::string& name : order_) {
      const Family& f = families_.at(name);
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
      for (const std::string& s : f.samples) out += s + "\n";
    }
    return out;
  }

 private:
  struct Family {
    std::string type, help;
    std::vector<std::string> samples;
  };
  std::map<std::string, Family> families_;
  std::vector<std::string> order_;
};

// `gauge`: the layer marked the key a level (MarkGauges, core/stats.h).
void AddNumber(Families& out, const std::string& prefix, const std::string& key, const StatsJson& v,
               const std::string& labels, const std::string& where, bool gauge) {
  if (kSkipped.contains(key)) return;
  const std::string base = prefix + "_" + Snake(key);
  if (key.size() > 2 && key.ends_with("_s")) {
    out.Add(base.substr(0, base.size() - 2) + "_seconds", "gauge", where + " " + key + " (seconds)", labels, Number(v));
  } else if (v.is_boolean() || gauge) {
    out.Add(base, "gauge", where + " " + key, labels, Number(v));
  } else {
    out.Add(base + "_total", "counter", where + " " + key, labels, Number(v));
  }
}

void AddS3Histogram(Families& out, const StatsJson& h) {
  const std::string name = "s3bd_s3_request_duration_seconds";
  const char* help = "latency of S3 request attempts";
  const StatsJson& upper = h["upper_us"];
  const StatsJson& below = h["below"];
  for (std::size_t i = 0; i < upper.size() && i < below.size(); ++i) {
    out.AddRaw(name, "histogram", help,
               fmt::format("{}_bucket{{le=\"{}\"}} {}", name,
                           static_cast<double>(upper[i].get<std::uint64_t>()) / 1e6, Number(below[i])));
  }
  out.AddRaw(name, "histogram", help, fmt::format("{}_bucket{{le=\"+Inf\"}} {}", name, Number(h["count"])));
  out.AddRaw(name, "histogram", help,
             fmt::format("{}_sum {}", name, static_cast<double>(h.value("sum_us", std::uint64_t{0})) / 1e6));
  out.AddRaw(name, "histogram", help, fmt::format("{}_count {}", name, Number(h["count"])));
}

// A layer's own keys (or an object inside it), under `prefix`.
void AddOwn(Families& out, const std::string& prefix, const StatsJson& obj, const std::string& where) {
  std::set<std::string, std::less<>> gauges;
  if (const auto g = obj.find("gauges"); g != obj.end() && g->is_array()) {
    for (const StatsJson& k : *g) {
      if (k.is_string()) gauges.insert(k.get<std::string>());
    }
  }
  for (const auto& [key, v] : obj.items()) {
    if (key == "layer" || key == "ops" || key == "gauges") continue;
    if (v.is_number() || v.is_boolean()) {
      AddNumber(out, prefix, key, v, "", where, gauges.contains(key));
    } else if (v.is_object()) {
      if (key == "latency_histogram") {
        AddS3Histogram(out, v);
      } else if (key == "requests" || key == "errors" || key == "retries_by_class") {
        const char* label = key == "requests" ? "kind" : "class";
        for (const auto& [k, n] : v.items()) {
          if (n.is_number()) {
            out.Add(prefix + "_" + Snake(key) + "_total", "counter", where + " " + key + " by " + label,
                    fmt::format("{}=\"{}\"", label, LabelValue(k)), Number(n));
          }
        }
      } else {
        AddOwn(out, prefix + "_" + Snake(key), v, where + " " + key);
      }
    }
  }
}

}  // namespace

std::string RenderPrometheus(const StatsJson& stats) {
  Families out;
  if (stats.contains("volume")) {
    const StatsJson& v = stats["volume"];
    out.Add("s3bd_volume_size_bytes", "gauge", "size of the volume", "", Number(v.value("size", StatsJson(0))));
    out.Add("s3bd_volume_block_size_bytes", "gauge", "block size of the volume", "",
            Number(v.value("block_size", StatsJson(0))));
    out.Add("s3bd_volume_read_only", "gauge", "1 if the volume is served read-only", "",
            Number(v.value("read_only", StatsJson(false))));
  }
  for (const auto& [key, f] : stats.items()) {
    if (key == "volume" || key == "daemon" || key == "layers" || !f.is_object()) continue;
    const std::string label = fmt::format("frontend=\"{}\"", LabelValue(key));
    out.Add("s3bd_frontend_errors_total", "counter", "errors the front end returned", label,
            Number(f.value("errors_returned", StatsJson(0))));
    out.Add("s3bd_frontend_largest_read_bytes", "gauge", "largest read request so far", label,
            Number(f.value("largest_read_request", StatsJson(0))));
    out.Add("s3bd_frontend_largest_write_bytes", "gauge", "largest write request so far", label,
            Number(f.value("largest_write_request", StatsJson(0))));
  }
  if (stats.contains("layers")) {
    for (const StatsJson& layer : stats["layers"]) {
      const std::string name = layer.value("layer", "");
      if (name.empty()) continue;
      if (layer.contains("ops")) {
        for (const auto& [op, o] : layer["ops"].items()) {
          const std::string labels = fmt::format("layer=\"{}\",op=\"{}\"", LabelValue(name), LabelValue(op));
          const double ops = o.value("ops", 0.0);
          out.Add("s3bd_layer_operations_total", "counter", "operations sent to the layer", labels,
                  Number(o.value("ops", StatsJson(0))));
          out.Add("s3bd_layer_bytes_total", "counter", "bytes of the operations sent to the layer", labels,
                  Number(o.value("bytes", StatsJson(0))));
          out.Add("s3bd_layer_errors_total", "counter", "operations of the layer that failed", labels,
                  Number(o.value("errors", StatsJson(0))));
          out.Add("s3bd_layer_duration_seconds_total", "counter", "time the layer's operations took in all",
                  labels, fmt::format("{}", ops * o.value("avg_ms", 0.0) / 1000.0));
        }
      }
      AddOwn(out, "s3bd_" + Snake(name), layer, "layer " + name + ":");
    }
  }
  return out.Text();
}

}  // namespace s3bd
