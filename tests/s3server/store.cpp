// store.cpp - implementation of the in-memory bucket/object store (store.h).
#include "store.h"

#include "util.h"

namespace s3server {

namespace {

bool starts_with(const std::string &s, const std::string &prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The smallest string greater than every string starting with `p`, or
// nullopt when there is none (p is all 0xff bytes).
std::optional<std::string> prefix_successor(std::string p) {
  while (!p.empty() && static_cast<unsigned char>(p.back()) == 0xff) p.pop_back();
  if (p.empty()) return std::nullopt;
  p.back() = static_cast<char>(static_cast<unsigned char>(p.back()) + 1);
  return p;
}

}  // namespace

std::shared_ptr<Store::Bucket> Store::find(const std::string &name) const {
  std::shared_lock lock(mu_);
  auto it = buckets_.find(name);
  return it == buckets_.end() ? nullptr : it->second;
}

bool Store::create_bucket(const std::string &name) {
  std::unique_lock lock(mu_);
  if (buckets_.count(name)) return false;
  auto b = std::make_shared<Bucket>();
  b->created_ms = now_unix_ms();
  buckets_.emplace(name, std::move(b));
  return true;
}

Status Store::delete_bucket(const std::string &name) {
  std::unique_lock lock(mu_);
  auto it = buckets_.find(name);
  if (it == buckets_.end()) return Status::NoSuchBucket;
  {
    std::lock_guard bl(it->second->mu);
    if (!it->second->objects.empty()) return Status::BucketNotEmpty;
  }
  buckets_.erase(it);
  return Status::Ok;
}

bool Store::bucket_exists(const std::string &name) const {
  return find(name) != nullptr;
}

std::vector<std::pair<std::string, int64_t>> Store::list_buckets() const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, int64_t>> out;
  for (auto &[name, b] : buckets_) out.emplace_back(name, b->created_ms);
  return out;
}

GetResult Store::get(const std::string &bucket, const std::string &key,
                     int64_t stale_ms) const {
  GetResult r;
  auto b = find(bucket);
  if (!b) {
    r.status = Status::NoSuchBucket;
    return r;
  }
  auto now = std::chrono::steady_clock::now();
  auto recent = [&](const Entry &e) {
    return e.has_prev && stale_ms > 0 &&
           now - e.changed < std::chrono::milliseconds(stale_ms);
  };
  std::lock_guard lock(b->mu);
  auto it = b->objects.find(key);
  if (it != b->objects.end()) {
    r.obj = it->second.cur;
    if (recent(it->second)) r.prev = it->second.prev;
    return r;
  }
  r.status = Status::NoSuchKey;
  auto t = b->tombs.find(key);
  if (t != b->tombs.end() && recent(t->second)) r.prev = t->second.prev;
  return r;
}

void Store::prune_tombs(Bucket &b, int64_t stale_ms) {
  if (b.tombs.size() < 1024) return;
  auto cutoff = std::chrono::steady_clock::now() -
                std::chrono::milliseconds(stale_ms > 0 ? stale_ms : 0);
  for (auto it = b.tombs.begin(); it != b.tombs.end();) {
    if (it->second.changed < cutoff)
      it = b.tombs.erase(it);
    else
      ++it;
  }
}

Status Store::put(const std::string &bucket, const std::string &key,
                  ObjectPtr obj, const PutCondition &cond, bool keep_prev,
                  int64_t stale_ms) {
  auto b = find(bucket);
  if (!b) return Status::NoSuchBucket;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(b->mu);
  auto it = b->objects.find(key);
  bool exists = it != b->objects.end();
  if (cond.if_none_match_star && exists) return Status::PreconditionFailed;
  if (cond.if_match) {
    if (!exists) return Status::NoSuchKey;
    if (!etag_list_matches(*cond.if_match, it->second.cur->etag))
      return Status::PreconditionFailed;
  }
  uint64_t new_size = obj->size();
  if (exists) {
    Entry &e = it->second;
    bytes_ -= e.cur->size();
    e.prev = keep_prev ? e.cur : nullptr;
    e.has_prev = keep_prev;
    e.cur = std::move(obj);
    e.changed = now;
  } else {
    Entry e;
    e.cur = std::move(obj);
    e.changed = now;
    auto t = b->tombs.find(key);
    if (t != b->tombs.end()) b->tombs.erase(t);
    prune_tombs(*b, stale_ms);
    // Before this PUT the key did not exist: a stale read returns 404.
    e.has_prev = keep_prev;
    b->objects.emplace(key, std::move(e));
    ++objects_;
  }
  bytes_ += new_size;
  return Status::Ok;
}

Status Store::remove(const std::string &bucket, const std::string &key,
                     bool keep_prev, int64_t stale_ms, bool *existed,
                     const std::string *if_match) {
  auto b = find(bucket);
  if (!b) return Status::NoSuchBucket;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(b->mu);
  auto it = b->objects.find(key);
  if (existed) *existed = it != b->objects.end();
  if (if_match) {
    if (it == b->objects.end()) return Status::NoSuchKey;
    if (!etag_list_matches(*if_match, it->second.cur->etag)) return Status::PreconditionFailed;
  }
  if (it == b->objects.end()) return Status::Ok;
  bytes_ -= it->second.cur->size();
  --objects_;
  if (keep_prev) {
    Entry t;
    t.prev = it->second.cur;
    t.has_prev = true;
    t.changed = now;
    b->tombs[key] = std::move(t);
    prune_tombs(*b, stale_ms);
  }
  b->objects.erase(it);
  return Status::Ok;
}

ListResult Store::list(const std::string &bucket, const ListParams &p) const {
  ListResult r;
  auto b = find(bucket);
  if (!b) {
    r.status = Status::NoSuchBucket;
    return r;
  }
  std::lock_guard lock(b->mu);
  auto &m = b->objects;
  auto it = m.lower_bound(p.prefix);
  if (!p.marker.empty() && p.marker >= p.prefix) it = m.upper_bound(p.marker);
  size_t count = 0;
  while (it != m.end() && starts_with(it->first, p.prefix)) {
    const std::string &key = it->first;
    if (!p.delimiter.empty()) {
      size_t pos = key.find(p.delimiter, p.prefix.size());
      if (pos != std::string::npos) {
        std::string cp = key.substr(0, pos + p.delimiter.size());
        // A group at or before the marker was returned on an earlier page.
        if (p.marker.empty() || cp > p.marker) {
          if (count >= p.max_keys) break;
          r.common_prefixes.push_back(cp);
          r.last = cp;
          ++count;
        }
        auto next = prefix_successor(cp);
        it = next ? m.lower_bound(*next) : m.end();
        continue;
      }
    }
    if (count >= p.max_keys) break;
    r.contents.emplace_back(key, it->second.cur);
    r.last = key;
    ++count;
    ++it;
  }
  r.truncated = it != m.end() && starts_with(it->first, p.prefix);
  return r;
}

void Store::clear_objects() {
  std::shared_lock lock(mu_);
  for (auto &[name, b] : buckets_) {
    std::lock_guard bl(b->mu);
    for (auto &[k, e] : b->objects) {
      bytes_ -= e.cur->size();
      --objects_;
    }
    b->objects.clear();
    b->tombs.clear();
  }
}

StoreStats Store::stats() const {
  StoreStats s;
  {
    std::shared_lock lock(mu_);
    s.buckets = buckets_.size();
  }
  s.objects = objects_.load();
  s.bytes = bytes_.load();
  return s;
}

}  // namespace s3server
