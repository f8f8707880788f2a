// counters.cpp - implementation of the server statistics (counters.h).
#include "counters.h"

#include <sstream>

namespace s3server {

namespace {
const char *const kKindNames[kNumKinds] = {
    "get_object",      "head_object",     "put_object",     "copy_object",
    "delete_object",   "delete_objects",  "list_objects_v1", "list_objects_v2",
    "list_buckets",    "create_bucket",   "delete_bucket",  "head_bucket",
    "get_bucket_location", "other"};
const char *const kExtraNames[kNumExtraFaults] = {"outage", "access_denied",
                                                  "invalid_access_key"};
}  // namespace

const char *kind_name(Kind k) { return kKindNames[static_cast<size_t>(k)]; }

void Counters::count_status(int status) {
  size_t c = status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0;
  ++status_class[c];
}

void Counters::reset() {
  for (auto &c : requests) c = 0;
  for (auto &c : status_class) c = 0;
  for (auto &c : faults) c = 0;
  for (auto &c : extra_faults) c = 0;
  bytes_in = 0;
  bytes_out = 0;
}

std::string Counters::to_json(const StoreStats &stats) const {
  std::ostringstream os;
  uint64_t total = 0;
  os << "{\"requests\":{";
  for (size_t i = 0; i < kNumKinds; ++i) {
    uint64_t v = requests[i].load();
    total += v;
    os << '"' << kKindNames[i] << "\":" << v << ',';
  }
  os << "\"total\":" << total << "},\"responses\":{";
  for (size_t i = 1; i < 6; ++i)
    os << (i > 1 ? "," : "") << "\"" << i << "xx\":" << status_class[i].load();
  os << "},\"faults\":{";
  uint64_t ftotal = 0;
  for (size_t i = 0; i < kNumFaults; ++i) {
    uint64_t v = faults[i].load();
    ftotal += v;
    os << '"' << fault_name(static_cast<Fault>(i)) << "\":" << v << ',';
  }
  for (size_t i = 0; i < kNumExtraFaults; ++i) {
    uint64_t v = extra_faults[i].load();
    ftotal += v;
    os << '"' << kExtraNames[i] << "\":" << v << ',';
  }
  os << "\"total\":" << ftotal << "},\"bytes_in\":" << bytes_in.load()
     << ",\"bytes_out\":" << bytes_out.load() << ",\"buckets\":" << stats.buckets
     << ",\"objects\":" << stats.objects << ",\"bytes_stored\":" << stats.bytes << '}';
  return os.str();
}

}  // namespace s3server
