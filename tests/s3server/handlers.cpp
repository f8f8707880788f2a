// handlers.cpp - the S3 operations of the test S3 server (GetObject,
// HeadObject, PutObject, CopyObject, DeleteObject, DeleteObjects,
// ListObjects V1/V2, bucket operations) and the body helpers that apply the
// per-connection bandwidth limit and the body-level faults (reset mid-body,
// truncated body, stale read, corrupted body).
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "request_ctx.h"
#include "s3xml.h"
#include "server.h"
#include "util.h"

namespace s3server {

namespace {

using Clock = std::chrono::steady_clock;

// Sleeps until `t` in slices, giving up early when `stopping` says so.
template <class Stop>
void pace_until(Clock::time_point t, Stop &&stopping) {
  for (;;) {
    auto now = Clock::now();
    if (now >= t || stopping()) return;
    auto left = t - now;
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

Clock::time_point after_bytes(Clock::time_point start, uint64_t bytes, uint64_t bw) {
  return start + std::chrono::microseconds(
                     static_cast<int64_t>(static_cast<double>(bytes) * 1e6 / static_cast<double>(bw)));
}

bool parse_u64(const std::string &s, uint64_t &out) {
  if (s.empty() || s.size() > 19) return false;
  for (char ch : s)
    if (ch < '0' || ch > '9') return false;
  out = std::strtoull(s.c_str(), nullptr, 10);
  return true;
}

enum class RangeKind { None, Ok, Unsatisfiable };

// Single byte range "bytes=a-b", "bytes=a-" or "bytes=-n". Multiple or
// malformed ranges are ignored (the whole object is returned), as S3 does.
RangeKind parse_range(const std::string &header, uint64_t size, uint64_t &first,
                      uint64_t &last) {
  std::string v = trim(header);
  if (v.rfind("bytes=", 0) != 0) return RangeKind::None;
  std::string spec = trim(v.substr(6));
  if (spec.find(',') != std::string::npos) return RangeKind::None;
  size_t dash = spec.find('-');
  if (dash == std::string::npos) return RangeKind::None;
  std::string a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  uint64_t x = 0, y = 0;
  if (a.empty()) {
    if (!parse_u64(b, y)) return RangeKind::None;
    if (y == 0 || size == 0) return RangeKind::Unsatisfiable;
    first = size > y ? size - y : 0;
    last = size - 1;
    return RangeKind::Ok;
  }
  if (!parse_u64(a, x)) return RangeKind::None;
  if (b.empty()) {
    y = UINT64_MAX;
  } else if (!parse_u64(b, y) || y < x) {
    return RangeKind::None;
  }
  if (x >= size) return RangeKind::Unsatisfiable;
  first = x;
  last = std::min(y, size - 1);
  return RangeKind::Ok;
}

// Headers stored with an object and returned on GET/HEAD.
bool is_stored_header(const std::string &lower) {
  return lower.rfind("x-amz-meta-", 0) == 0 || lower == "cache-control" ||
         lower == "content-disposition" || lower == "content-language" ||
         lower == "expires" || lower == "x-amz-storage-class";
}

void collect_metadata(const httplib::Request &req, Object &obj) {
  obj.content_type = req.get_header_value("Content-Type");
  if (obj.content_type.empty()) obj.content_type = "binary/octet-stream";
  obj.content_encoding = req.get_header_value(kHiddenContentEncoding);
  obj.headers.clear();
  for (auto &[name, value] : req.headers) {
    std::string lower = to_lower(name);
    if (is_stored_header(lower)) obj.headers.emplace_back(lower, value);
  }
}

int64_t seconds_floor(int64_t ms) { return ms / 1000 * 1000; }

}  // namespace

void S3Server::send_error(RequestCtx &c, int status, const std::string &code,
                          const std::string &message) {
  ErrorInfo info;
  info.code = code;
  info.message = message;
  info.resource = c.req.path;
  info.request_id = c.request_id;
  info.bucket = c.bucket;
  if (c.has_key) info.key = c.key;
  c.res.set_header("x-amz-error-code", code);
  send_xml(c, status, error_xml(info), false);
}

void S3Server::send_xml(RequestCtx &c, int status, std::string xml, bool allow_cut) {
  c.res.status = status;
  auto holder = std::make_shared<std::string>(std::move(xml));
  const char *data = holder->data();
  size_t len = holder->size();
  send_body(c, std::move(holder), data, len, "application/xml", allow_cut);
}

void S3Server::send_body(RequestCtx &c, std::shared_ptr<const void> holder,
                         const char *data, size_t len, const std::string &content_type,
                         bool allow_cut) {
  if (len == 0) {
    c.res.set_content("", 0, content_type);
    return;
  }
  enum class Cut { None, Truncate, Reset };
  Cut cut = Cut::None;
  size_t end = len;
  if (allow_cut && !c.head()) {
    if (c.d.has(Fault::Reset)) {
      cut = Cut::Reset;
      counters_.count(Fault::Reset);
      c.reset_handled = true;
    } else if (c.d.has(Fault::Truncate)) {
      cut = Cut::Truncate;
      counters_.count(Fault::Truncate);
    }
    if (cut != Cut::None)
      end = std::min(len - 1, static_cast<size_t>(static_cast<double>(len) * c.d.cut_fraction));
  }
  uint64_t bw = c.d.bandwidth;
  std::string remote = c.req.remote_addr;
  int remote_port = c.req.remote_port, local_port = c.req.local_port;
  auto start = std::make_shared<Clock::time_point>();
  c.res.set_content_provider(
      len, content_type,
      [this, holder, data, end, cut, bw, remote, remote_port, local_port, start](
          size_t offset, size_t, httplib::DataSink &sink) {
        if (offset >= end) {
          // The injected cut: Content-Length promised more than this.
          if (cut == Cut::Reset)
            reset_connection(find_connection_fd(remote, remote_port, local_port), 200);
          return false;
        }
        size_t n = end - offset;
        if (bw > 0) {
          if (offset == 0) *start = Clock::now();
          n = std::min<size_t>(n, std::max<uint64_t>(bw / 50, 1024));
        }
        if (!sink.write(data + offset, n)) return false;
        counters_.bytes_out += n;
        if (bw > 0)
          pace_until(after_bytes(*start, offset + n, bw), [this] { return sleeper_.stopping(); });
        return true;
      });
}

bool S3Server::read_body(RequestCtx &c, std::string &body, double cut_fraction, Md5 *md5) {
  c.body_consumed = true;
  if (!c.reader) return true;
  uint64_t expected = 0;
  parse_u64(c.req.get_header_value("Content-Length"), expected);
  if (expected > 0 && expected < (1ull << 34)) body.reserve(expected);
  size_t cut = SIZE_MAX;
  if (cut_fraction >= 0)
    cut = expected > 0 ? static_cast<size_t>(static_cast<double>(expected) * cut_fraction) : 1;
  uint64_t bw = c.d.bandwidth;
  auto start = Clock::now();
  bool ok = (*c.reader)([&](const char *p, size_t n) {
    body.append(p, n);
    if (md5) md5->update(p, n);
    counters_.bytes_in += n;
    if (body.size() >= cut) return false;
    if (bw > 0)
      pace_until(after_bytes(start, body.size(), bw), [this] { return sleeper_.stopping(); });
    return true;
  });
  if (cut_fraction >= 0) {
    reset_now(c);
    return false;
  }
  if (!ok) {
    // The client went away or sent a bad body; there is nobody to answer.
    c.killed = true;
    c.res.status = 400;
  }
  return ok;
}

void S3Server::drain_body(RequestCtx &c) {
  c.body_consumed = true;
  if (!c.reader) return;
  bool ok = (*c.reader)([&](const char *, size_t n) {
    counters_.bytes_in += n;
    return true;
  });
  if (!ok) c.killed = true;
}

void S3Server::reset_now(RequestCtx &c) {
  reset_connection(find_connection_fd(c.req.remote_addr, c.req.remote_port, c.req.local_port), 0);
  c.killed = true;
  c.body_consumed = true;
  c.res.status = 599;  // for the logger: never sent
}

bool S3Server::ensure_bucket(RequestCtx &c) {
  if (store_.bucket_exists(c.bucket)) return true;
  if (opts_.auto_create_buckets) {
    store_.create_bucket(c.bucket);
    return true;
  }
  send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
  return false;
}

void S3Server::get_object(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  GetResult r = store_.get(c.bucket, c.key, c.d.stale_ms);
  if (r.status == Status::NoSuchBucket) {
    send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
    return;
  }
  ObjectPtr obj = r.obj;
  if (c.d.has(Fault::Stale) && r.prev) {
    obj = *r.prev;
    counters_.count(Fault::Stale);
  }
  if (!obj) {
    send_error(c, 404, "NoSuchKey", "The specified key does not exist.");
    return;
  }
  auto &res = c.res;
  const auto &req = c.req;
  std::string etag = "\"" + obj->etag + "\"";
  // A hostile proxy: no ETag and no user metadata in the response.
  const bool strip = c.d.has(Fault::Strip);
  if (strip) counters_.count(Fault::Strip);
  if (!strip) res.set_header("ETag", etag);
  res.set_header("Last-Modified", http_date(obj->mtime_ms));
  res.set_header("Accept-Ranges", "bytes");
  if (!obj->content_encoding.empty()) res.set_header("Content-Encoding", obj->content_encoding);
  for (auto &[name, value] : obj->headers) {
    if (!strip || name.rfind("x-amz-meta-", 0) != 0) res.set_header(name, value);
  }

  // Conditional requests (RFC 7232 order, as S3 evaluates them).
  int64_t mtime = seconds_floor(obj->mtime_ms);
  if (req.has_header("If-Match")) {
    if (!etag_list_matches(req.get_header_value("If-Match"), obj->etag)) {
      send_error(c, 412, "PreconditionFailed",
                 "At least one of the pre-conditions you specified did not hold");
      return;
    }
  } else if (req.has_header("If-Unmodified-Since")) {
    auto t = parse_http_date(req.get_header_value("If-Unmodified-Since"));
    if (t && mtime > *t) {
      send_error(c, 412, "PreconditionFailed",
                 "At least one of the pre-conditions you specified did not hold");
      return;
    }
  }
  bool not_modified = false;
  if (req.has_header("If-None-Match")) {
    not_modified = etag_list_matches(req.get_header_value("If-None-Match"), obj->etag);
  } else if (req.has_header("If-Modified-Since")) {
    auto t = parse_http_date(req.get_header_value("If-Modified-Since"));
    not_modified = t && mtime <= *t;
  }
  if (not_modified) {
    res.status = 304;
    return;
  }

  const std::string &data = *obj->data;
  uint64_t first = 0, last = 0;
  size_t offset = 0, len = data.size();
  res.status = 200;
  if (req.has_header("Range")) {
    switch (parse_range(req.get_header_value("Range"), data.size(), first, last)) {
      case RangeKind::None: break;
      case RangeKind::Unsatisfiable:
        res.set_header("Content-Range", "bytes */" + std::to_string(data.size()));
        send_error(c, 416, "InvalidRange", "The requested range is not satisfiable");
        return;
      case RangeKind::Ok:
        offset = first;
        len = last - first + 1;
        res.status = 206;
        res.set_header("Content-Range", "bytes " + std::to_string(first) + "-" +
                                            std::to_string(last) + "/" +
                                            std::to_string(data.size()));
        break;
    }
  }
  std::shared_ptr<const void> holder = obj;
  const char *ptr = data.data() + offset;
  if (c.d.has(Fault::Corrupt) && len > 0 && !c.head()) {
    auto copy = std::make_shared<std::string>(ptr, len);
    (*copy)[c.d.rnd % len] = static_cast<char>((*copy)[c.d.rnd % len] ^ 0xFF);
    ptr = copy->data();
    holder = copy;
    counters_.count(Fault::Corrupt);
  }
  send_body(c, std::move(holder), ptr, len, obj->content_type, true);
}

void S3Server::put_object(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  const auto &req = c.req;
  std::string sha = to_lower(trim(req.get_header_value("x-amz-content-sha256")));
  if (sha.rfind("streaming-", 0) == 0) {
    send_error(c, 501, "NotImplemented",
               "aws-chunked (streaming signed) uploads are not supported by the s3bd test server");
    return;
  }
  std::optional<std::string> want_md5;
  if (req.has_header("Content-MD5")) {
    want_md5 = base64_decode(trim(req.get_header_value("Content-MD5")));
    if (!want_md5 || want_md5->size() != 16) {
      send_error(c, 400, "InvalidDigest", "The Content-MD5 you specified was not valid.");
      return;
    }
  }
  auto body = std::make_shared<std::string>();
  if (c.d.has(Fault::Reset)) {
    counters_.count(Fault::Reset);
    c.reset_handled = true;
    read_body(c, *body, c.d.cut_fraction);
    return;
  }
  Md5 hasher;
  if (!read_body(c, *body, -1, &hasher)) return;
  std::string md5 = hasher.final_raw();
  if (want_md5 && *want_md5 != md5) {
    send_error(c, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
    return;
  }
  if (opts_.verify_sha256 && sha.size() == 64 &&
      sha.find_first_not_of("0123456789abcdef") == std::string::npos &&
      sha256_hex(*body) != sha) {
    send_error(c, 400, "XAmzContentSHA256Mismatch",
               "The provided 'x-amz-content-sha256' header does not match what was computed.");
    return;
  }
  auto obj = std::make_shared<Object>();
  obj->etag = hex_encode(md5);
  obj->data = std::move(body);
  obj->mtime_ms = now_unix_ms();
  collect_metadata(req, *obj);

  PutCondition cond;
  if (!faults_.ignore_conditions()) {
    if (req.has_header("If-None-Match")) cond.if_none_match_star = trim(req.get_header_value("If-None-Match")) == "*";
    if (req.has_header("If-Match")) cond.if_match = rgw_if_match(req.get_header_value("If-Match"));
  }
  std::string etag = obj->etag;
  Status st = store_.put(c.bucket, c.key, std::move(obj), cond, faults_.stale_enabled(),
                         c.d.stale_ms);
  switch (st) {
    case Status::Ok:
      c.res.status = 200;
      c.res.set_header("ETag", "\"" + etag + "\"");
      c.res.set_content("", 0, "application/xml");
      return;
    case Status::NoSuchBucket:
      send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
      return;
    case Status::NoSuchKey:
      send_error(c, 404, "NoSuchKey", "The specified key does not exist.");
      return;
    default:
      send_error(c, 412, "PreconditionFailed",
                 "At least one of the pre-conditions you specified did not hold");
      return;
  }
}

void S3Server::copy_object(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  const auto &req = c.req;
  std::string src = url_decode(req.get_header_value("x-amz-copy-source"));
  size_t q = src.find("?versionId=");
  if (q != std::string::npos) src.resize(q);
  if (!src.empty() && src[0] == '/') src.erase(0, 1);
  size_t slash = src.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == src.size()) {
    send_error(c, 400, "InvalidArgument", "Copy Source must mention the source bucket and key");
    return;
  }
  std::string sbucket = src.substr(0, slash), skey = src.substr(slash + 1);
  GetResult g = store_.get(sbucket, skey, 0);
  if (g.status == Status::NoSuchBucket) {
    send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
    return;
  }
  if (!g.obj) {
    send_error(c, 404, "NoSuchKey", "The specified key does not exist.");
    return;
  }
  if (req.has_header("x-amz-copy-source-if-match") &&
      !etag_list_matches(req.get_header_value("x-amz-copy-source-if-match"), g.obj->etag)) {
    send_error(c, 412, "PreconditionFailed",
               "At least one of the pre-conditions you specified did not hold");
    return;
  }
  if (req.has_header("x-amz-copy-source-if-none-match") &&
      etag_list_matches(req.get_header_value("x-amz-copy-source-if-none-match"), g.obj->etag)) {
    send_error(c, 412, "PreconditionFailed",
               "At least one of the pre-conditions you specified did not hold");
    return;
  }
  auto obj = std::make_shared<Object>(*g.obj);
  obj->mtime_ms = now_unix_ms();
  if (to_lower(req.get_header_value("x-amz-metadata-directive")) == "replace")
    collect_metadata(req, *obj);
  PutCondition cond;
  if (!faults_.ignore_conditions()) {
    if (req.has_header("If-None-Match")) cond.if_none_match_star = trim(req.get_header_value("If-None-Match")) == "*";
    if (req.has_header("If-Match")) cond.if_match = rgw_if_match(req.get_header_value("If-Match"));
  }
  std::string etag = obj->etag;
  int64_t mtime = obj->mtime_ms;
  Status st = store_.put(c.bucket, c.key, std::move(obj), cond, faults_.stale_enabled(),
                         c.d.stale_ms);
  if (st == Status::Ok) {
    send_xml(c, 200, copy_result_xml(etag, mtime), true);
  } else if (st == Status::NoSuchKey) {
    send_error(c, 404, "NoSuchKey", "The specified key does not exist.");
  } else if (st == Status::NoSuchBucket) {
    send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
  } else {
    send_error(c, 412, "PreconditionFailed",
               "At least one of the pre-conditions you specified did not hold");
  }
}

// conditions=rgw: a quoted ETag in If-Match never matches (Ceph RGW 16).
std::string S3Server::rgw_if_match(const std::string &value) const {
  if (!faults_.rgw_if_match()) return value;
  std::string v = trim(value);
  return !v.empty() && v.front() == '"' ? std::string("\"never-matches\"") : v;
}

void S3Server::delete_object(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  std::string if_match;
  const bool conditional = c.req.has_header("If-Match") && !faults_.ignore_conditions();
  if (conditional) if_match = rgw_if_match(c.req.get_header_value("If-Match"));
  Status st = store_.remove(c.bucket, c.key, faults_.stale_enabled(), c.d.stale_ms, nullptr,
                            conditional ? &if_match : nullptr);
  if (st == Status::NoSuchBucket) {
    send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist");
    return;
  }
  if (st == Status::NoSuchKey) {
    send_error(c, 404, "NoSuchKey", "The specified key does not exist.");
    return;
  }
  if (st == Status::PreconditionFailed) {
    send_error(c, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
    return;
  }
  c.res.status = 204;
}

void S3Server::delete_objects(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  std::string body;
  if (!read_body(c, body)) return;
  if (c.req.has_header("Content-MD5")) {
    auto want = base64_decode(trim(c.req.get_header_value("Content-MD5")));
    if (!want || *want != md5_raw(body)) {
      send_error(c, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      return;
    }
  }
  std::string err;
  auto parsed = parse_delete_xml(body, &err);
  if (!parsed || parsed->keys.size() > 1000) {
    send_error(c, 400, "MalformedXML",
               "The XML you provided was not well-formed or did not validate against our "
               "published schema" +
                   (err.empty() ? std::string(" (more than 1000 keys)") : " (" + err + ")"));
    return;
  }
  std::vector<DeleteOutcome> outcomes;
  outcomes.reserve(parsed->keys.size());
  bool keep_prev = faults_.stale_enabled();
  for (auto &key : parsed->keys) {
    DeleteOutcome o;
    o.key = key;
    if (key.empty()) {
      o.error_code = "InvalidArgument";
      o.error_message = "Empty key";
    } else if (store_.remove(c.bucket, key, keep_prev, c.d.stale_ms) != Status::Ok) {
      o.error_code = "NoSuchBucket";
      o.error_message = "The specified bucket does not exist";
    }
    outcomes.push_back(std::move(o));
  }
  send_xml(c, 200, delete_result_xml(outcomes, parsed->quiet), true);
}

void S3Server::list_objects(RequestCtx &c, bool v2) {
  if (!ensure_bucket(c)) return;
  const auto &req = c.req;
  ListParams lp;
  lp.prefix = req.get_param_value("prefix");
  lp.delimiter = req.get_param_value("delimiter");
  if (req.has_param("max-keys")) {
    uint64_t mk = 0;
    if (!parse_u64(trim(req.get_param_value("max-keys")), mk)) {
      send_error(c, 400, "InvalidArgument", "Provided max-keys not an integer or within integer range");
      return;
    }
    lp.max_keys = static_cast<size_t>(std::min<uint64_t>(mk, 1000));
  }
  std::string enc = req.get_param_value("encoding-type");
  if (!enc.empty() && enc != "url") {
    send_error(c, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
    return;
  }
  if (v2) {
    ListV2Info info;
    info.bucket = c.bucket;
    info.prefix = lp.prefix;
    info.delimiter = lp.delimiter;
    info.max_keys = lp.max_keys;
    info.url_encoding = enc == "url";
    info.fetch_owner = req.get_param_value("fetch-owner") == "true";
    info.start_after = req.get_param_value("start-after");
    lp.marker = info.start_after;
    if (req.has_param("continuation-token")) {
      info.continuation_token = req.get_param_value("continuation-token");
      auto decoded = base64_decode(info.continuation_token);
      if (!decoded || decoded->empty() || (*decoded)[0] != 'k') {
        send_error(c, 400, "InvalidArgument", "The continuation token provided is incorrect");
        return;
      }
      lp.marker = decoded->substr(1);
    }
    ListResult r = store_.list(c.bucket, lp);
    if (r.truncated) info.next_continuation_token = base64_encode("k" + r.last);
    send_xml(c, 200, list_v2_xml(info, r), true);
  } else {
    ListV1Info info;
    info.bucket = c.bucket;
    info.prefix = lp.prefix;
    info.delimiter = lp.delimiter;
    info.max_keys = lp.max_keys;
    info.url_encoding = enc == "url";
    info.marker = req.get_param_value("marker");
    lp.marker = info.marker;
    ListResult r = store_.list(c.bucket, lp);
    if (r.truncated) info.next_marker = r.last;
    send_xml(c, 200, list_v1_xml(info, r), true);
  }
}

void S3Server::list_buckets(RequestCtx &c) {
  send_xml(c, 200, list_buckets_xml(store_.list_buckets()), true);
}

void S3Server::create_bucket(RequestCtx &c) {
  drain_body(c);
  if (c.killed) return;
  if (!store_.create_bucket(c.bucket)) {
    send_error(c, 409, "BucketAlreadyOwnedByYou",
               "Your previous request to create the named bucket succeeded and you already own it.");
    return;
  }
  c.res.status = 200;
  c.res.set_header("Location", "/" + c.bucket);
  c.res.set_content("", 0, "application/xml");
}

void S3Server::delete_bucket(RequestCtx &c) {
  switch (store_.delete_bucket(c.bucket)) {
    case Status::Ok: c.res.status = 204; return;
    case Status::BucketNotEmpty:
      send_error(c, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
      return;
    default: send_error(c, 404, "NoSuchBucket", "The specified bucket does not exist"); return;
  }
}

void S3Server::head_bucket(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  c.res.status = 200;
  c.res.set_header("x-amz-bucket-region", opts_.region);
}

void S3Server::bucket_location(RequestCtx &c) {
  if (!ensure_bucket(c)) return;
  send_xml(c, 200, location_xml(opts_.region), true);
}

}  // namespace s3server
