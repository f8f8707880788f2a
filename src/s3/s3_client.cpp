// S3 requests: addressing, signing, the retry loop and error messages. See
// the header for the contract.
#include "s3bd/s3/s3_client.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/s3/crypto.h"
#include "s3bd/s3/sigv2.h"
#include "s3bd/s3/sigv4.h"

namespace s3bd::s3 {

namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// An ETag header value without quotes, lowercased.
std::string CleanEtag(const std::string* etag) {
  if (etag == nullptr) return {};
  std::string_view v = *etag;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return Lower(v);
}

bool IsMd5Hex(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Text from the server, made safe for a one-line message.
std::string OneLine(std::string_view s, std::size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return out;
}

std::string Seconds(Clock::duration d) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(d).count());
}

}  // namespace

// ---------------------------------------------------------------- credentials

CredentialProvider::CredentialProvider(Credentials credentials)
    : credentials_(std::move(credentials)), margin_(0) {}

CredentialProvider::CredentialProvider(Credentials credentials,
                                       std::optional<std::chrono::system_clock::time_point> expiration,
                                       RefreshFn refresh, std::chrono::seconds margin)
    : credentials_(std::move(credentials)),
      expiration_(expiration),
      refresh_(std::move(refresh)),
      margin_(margin) {}

std::error_code CredentialProvider::Get(Credentials* out, std::string* detail) {
  const auto now = std::chrono::system_clock::now();
  {
    std::lock_guard lock(mu_);
    const bool due = refresh_ && expiration_ && now + margin_ >= *expiration_;
    if (!due || refreshing_) {
      if (expiration_ && now >= *expiration_) {
        if (detail) *detail = "the temporary credentials expired and are being refreshed";
        return make_error_code(s3bd::Errc::kAccessDenied);
      }
      *out = credentials_;
      return {};
    }
    refreshing_ = true;
  }
  Credentials fresh;
  std::optional<std::chrono::system_clock::time_point> expiration;
  std::string why;
  const std::error_code ec = refresh_(&fresh, &expiration, &why);
  std::lock_guard lock(mu_);
  refreshing_ = false;
  if (!ec) {
    credentials_ = std::move(fresh);
    expiration_ = expiration;
    spdlog::info("refreshed credentials: {}", credentials_.Describe());
  } else {
    spdlog::warn("cannot refresh credentials: {}", why.empty() ? ec.message() : why);
    if (expiration_ && now >= *expiration_) {
      if (detail) *detail = "temporary credentials expired and could not be refreshed: " + why;
      return ec;
    }
  }
  *out = credentials_;
  return {};
}

// ---------------------------------------------------------------- stats

const char* S3Stats::KindName(Kind k) {
  static const char* const kNames[] = {"GET", "PUT", "DELETE", "HEAD", "LIST", "DELETE-MULTI"};
  return kNames[k];
}

const char* S3Stats::ErrorClassName(ErrorClass e) {
  static const char* const kNames[] = {"access-denied", "no-such-bucket", "unreachable",
                                       "timeout",       "server-error",   "throttled",
                                       "checksum-mismatch", "tls",        "other"};
  return kNames[e];
}

int S3Stats::BucketOf(std::uint64_t us) {
  if (us < 4) return static_cast<int>(us);
  const int log2 = 63 - __builtin_clzll(us);              // >= 2
  const int sub = static_cast<int>((us >> (log2 - 2)) & 3);  // next two bits
  return std::min(kBuckets - 1, (log2 - 1) * 4 + sub);
}

std::uint64_t S3Stats::BucketUpper(int b) {
  if (b < 4) return static_cast<std::uint64_t>(b) + 1;
  const int log2 = b / 4 + 1, sub = b % 4;
  return (std::uint64_t{4 + static_cast<std::uint64_t>(sub) + 1}) << (log2 - 2);
}

void S3Stats::CountAttempt(Kind k, std::uint64_t bytes_up, std::uint64_t bytes_down,
                           std::chrono::microseconds latency, bool reused) {
  requests_[k]++;
  bytes_up_ += bytes_up;
  bytes_down_ += bytes_down;
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
  latency_us_ += us;
  latency_[BucketOf(us)]++;
  if (reused) reused_++;
}

std::uint64_t S3Stats::total_requests() const {
  std::uint64_t n = 0;
  for (const auto& r : requests_) n += r.load();
  return n;
}

std::chrono::microseconds S3Stats::P99() const {
  std::uint64_t total = 0;
  for (const auto& b : latency_) total += b.load();
  if (total == 0) return std::chrono::microseconds(0);
  const std::uint64_t rank = (total * 99 + 99) / 100;  // ceil(0.99 * total)
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += latency_[b].load();
    if (seen >= rank) return std::chrono::microseconds(BucketUpper(b));
  }
  return std::chrono::microseconds(BucketUpper(kBuckets - 1));
}

void S3Stats::Fill(StatsJson& j) const {
  const std::uint64_t total = total_requests();
  StatsJson& req = j["requests"];
  for (int k = 0; k < kNumKinds; ++k) req[KindName(static_cast<Kind>(k))] = requests_[k].load();
  j["total_requests"] = total;
  j["bytes_sent"] = bytes_up_.load();
  j["bytes_received"] = bytes_down_.load();
  j["latency_avg_ms"] = total ? static_cast<double>(latency_us_.load()) / 1000.0 / static_cast<double>(total) : 0.0;
  j["latency_p99_ms"] = static_cast<double>(P99().count()) / 1000.0;
  j["retries"] = retries_.load();
  // (References into an ordered_json object die when a key is added to it.)
  StatsJson rc, ec;
  for (int e = 0; e < kNumErrorClasses; ++e) {
    rc[ErrorClassName(static_cast<ErrorClass>(e))] = retries_by_class_[e].load();
    ec[ErrorClassName(static_cast<ErrorClass>(e))] = errors_[e].load();
  }
  j["retries_by_class"] = std::move(rc);
  j["errors"] = std::move(ec);
  j["reused_connections"] = reused_.load();
  // The latency of every attempt as a histogram with fixed bounds (powers
  // of two of microseconds, 1.024 ms to 16.8 s, each a bucket boundary of
  // latency_): how many took less than each bound, and the total.
  StatsJson hist;
  StatsJson upper = StatsJson::array(), below = StatsJson::array();
  std::array<std::uint64_t, kBuckets> fine;  // one load each: the counts agree with each other
  std::uint64_t count = 0;
  for (int b = 0; b < kBuckets; ++b) count += fine[b] = latency_[b].load();
  std::uint64_t seen = 0;
  int next = 0;
  for (int n = 10; n <= 24; ++n) {
    const int last = (n - 2) * 4 + 3;  // the fine bucket whose upper bound is 2^n us
    for (; next <= last && next < kBuckets; ++next) seen += fine[next];
    upper.push_back(std::uint64_t{1} << n);
    below.push_back(seen);
  }
  hist["upper_us"] = std::move(upper);
  hist["below"] = std::move(below);
  hist["count"] = count;
  hist["sum_us"] = latency_us_.load();
  j["latency_histogram"] = std::move(hist);
}

void S3Stats::Print(std::ostream& os) const {
  StatsJson j;
  Fill(j);
  RenderS3RequestsText(os, j);
}

// ---------------------------------------------------------------- client

std::vector<NameValue> ObjectMetaOf(const std::vector<NameValue>& response_headers) {
  constexpr std::string_view kUserMeta = "x-amz-meta-";
  std::vector<NameValue> meta;
  for (const auto& [name, value] : response_headers) {
    if (name == kCrc32cMetaHeader) continue;
    if (name == "content-encoding") {
      meta.emplace_back(name, value);
    } else if (name.size() > kUserMeta.size() && name.compare(0, kUserMeta.size(), kUserMeta) == 0) {
      meta.emplace_back(name.substr(kUserMeta.size()), value);
    }
  }
  std::sort(meta.begin(), meta.end());
  return meta;
}

std::uint32_t MetaCrc(std::uint32_t body_crc, std::vector<NameValue> meta) {
  std::sort(meta.begin(), meta.end());
  std::uint32_t crc = body_crc;
  for (const auto& [name, value] : meta) crc = Crc32cExtend(crc, name + ":" + value + "\n");
  return crc;
}

struct S3Client::Call {
  S3Stats::Kind kind = S3Stats::kGet;
  std::string method = "GET";
  std::string key;  // empty: a bucket-level request
  std::vector<NameValue> query;
  std::vector<NameValue> headers;
  std::span<const std::uint8_t> body;
  std::span<std::uint8_t> body_out;  // HttpRequest::body_out (a GET into a caller's buffer)
  std::string payload_sha256 = std::string(kEmptyPayloadSha256);
  std::size_t max_response = 1u << 20;
  bool missing_ok = false;  // 404 (other than NoSuchBucket) means "absent"
  bool not_modified_ok = false;  // 304 means "unchanged" (a conditional GET)
  bool condition_ok = false;  // 412/409 are Errc::kConditionFailed (a conditional PUT/DELETE)
  // Validates a 2xx response; an error with *retry set is retried.
  std::function<std::error_code(const HttpResponse&, bool* retry, std::string* detail)> check;

  HttpResponse response;
  bool found = true;
  bool not_modified = false;
};

S3Client::S3Client(S3ClientConfig config, std::shared_ptr<CredentialProvider> credentials)
    : config_(std::move(config)),
      credentials_(std::move(credentials)),
      http_(config_.http),
      outage_(config_.endpoint) {
  outage_.SetPlan(RetryPlan(limit_));
}

RetryLimit S3Client::retry_limit() const {
  if (!limit_set_.load(std::memory_order_acquire)) return {};  // no lock per request until one is set
  std::lock_guard lock(limit_mu_);
  return limit_;
}

void S3Client::SetRetryLimit(const RetryLimit& limit) {
  {
    std::lock_guard lock(limit_mu_);
    limit_ = limit;
    limit_set_.store(true, std::memory_order_release);
  }
  outage_.SetPlan(RetryPlan(limit));
  pause_cv_.notify_all();
}

std::string S3Client::RetryPlan(const RetryLimit& limit) const {
  if (limit.give_up_at) {
    const auto left = std::max(Clock::duration::zero(), *limit.give_up_at - Clock::now());
    return fmt::format("s3bd is stopping: retrying for at most {} more", Seconds(left));
  }
  if (limit.until_answered) return "I/O waits until the server answers (--hard)";
  return fmt::format("retrying each request for up to {} s before it fails",
                     std::chrono::duration_cast<std::chrono::seconds>(config_.retry.budget).count());
}

std::string S3Client::Location() const {
  std::string prefix = config_.prefix;
  if (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return "s3://" + config_.bucket + (prefix.empty() ? "" : "/" + prefix);
}

std::string S3Client::ObjectUrlForLog(const std::string& key) const {
  return "s3://" + config_.bucket + "/" + key;
}

std::error_code S3Client::Sign(Call& call, HttpRequest* request, std::string* detail) {
  const std::string& endpoint = config_.endpoint;
  const auto scheme_end = endpoint.find("://");
  const std::string scheme = endpoint.substr(0, scheme_end);
  std::string host = endpoint.substr(scheme_end + 3);
  const bool vhost = config_.addressing == Addressing::kVirtualHost;
  if (vhost) host = config_.bucket + "." + host;

  request->method = call.method;
  request->body = call.body;
  request->max_response = call.max_response;
  request->body_out = call.body_out;
  request->headers = call.headers;
  request->headers.emplace_back("Host", host);

  const auto now = std::chrono::system_clock::now();
  if (config_.auth == AuthMode::kSigV2) {
    SigV2Request r;
    r.method = call.method;
    r.bucket = config_.bucket;
    r.key = call.key;
    r.query = call.query;
    r.headers = std::move(request->headers);
    // The time also goes in x-amz-date, which is then signed instead of the
    // Date line (AWS accepts both; some S3 emulators only the former).
    const std::string date = FormatHttpDate(now);
    r.headers.emplace_back("x-amz-date", date);
    Credentials creds;
    if (auto ec = credentials_->Get(&creds, detail)) return ec;
    std::string authorization;
    if (auto ec = SignRequestV2(r, creds, date, &authorization, detail)) return ec;
    request->headers = std::move(r.headers);
    request->headers.emplace_back("Authorization", std::move(authorization));
    request->url = scheme + "://" + host + SigV2RequestTarget(r, vhost);
    return {};
  }

  SigV4Request r;
  r.method = call.method;
  r.path = vhost ? "/" + call.key : "/" + config_.bucket + (call.key.empty() ? "" : "/" + call.key);
  r.query = call.query;
  r.headers = std::move(request->headers);
  r.payload_sha256 = call.payload_sha256;
  if (config_.auth == AuthMode::kSigV4) {
    Credentials creds;
    if (auto ec = credentials_->Get(&creds, detail)) return ec;
    SigV4Scope scope;
    scope.region = config_.region;
    scope.timestamp = FormatAmzDate(now);
    std::string authorization;
    if (auto ec = SignRequest(r, creds, scope, &authorization, detail)) return ec;
    r.headers.emplace_back("Authorization", std::move(authorization));
  }
  request->headers = std::move(r.headers);
  request->url = scheme + "://" + host + RequestTarget(r);
  return {};
}

std::error_code S3Client::Execute(Call& call, std::string* detail) {
  const auto start = Clock::now();
  Backoff backoff(config_.retry);
  const std::string what = call.key.empty() ? Location() : ObjectUrlForLog(call.key);
  bool waiting = false;  // counted in the outage monitor's waiting requests
  const auto finish = [&](std::error_code ec) {
    if (waiting) outage_.Waiting(-1);
    return ec;
  };
  for (unsigned attempt = 1;; ++attempt) {
    HttpRequest request;
    if (auto ec = Sign(call, &request, detail)) {
      stats_.CountError(S3Stats::kOtherError);
      return finish(ec);
    }
    const RetryLimit limit = retry_limit();
    if (attempt > 1 && limit.give_up_at) {
      // A stopping daemon: no retry may outlast the deadline.
      request.timeout = std::max(std::chrono::milliseconds(1),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(*limit.give_up_at - Clock::now()));
    }
    HttpResponse& resp = call.response;
    http_.Perform(request, &resp);
    stats_.CountAttempt(call.kind, call.body.size(), resp.Body().size(), resp.elapsed, resp.reused_connection);

    // Decide: done (success or fatal), or retry with this error if the budget allows.
    std::error_code ec;
    std::string why;
    S3Stats::ErrorClass error_class = S3Stats::kOtherError;
    bool retry = false;
    bool outage = false;  // a failure of the server, not of this request
    if (resp.transport != TransportError::kNone) {
      const RetryClass rc = ClassifyTransport(resp.transport);
      retry = IsRetryable(rc);
      outage = retry;
      ec = make_error_code(s3bd::Errc::kStoreUnavailable);
      switch (resp.transport) {
        case TransportError::kTimeout:
          error_class = S3Stats::kTimeout;
          why = fmt::format("request to {} timed out ({})", config_.endpoint, resp.transport_detail);
          break;
        case TransportError::kTlsCertificate:
          error_class = S3Stats::kTls;
          why = fmt::format("TLS certificate of {} not accepted: {} (use --ca-file, or --insecure)",
                            config_.endpoint, resp.transport_detail);
          break;
        case TransportError::kTlsProtocol:
          error_class = S3Stats::kTls;
          why = fmt::format("TLS handshake with {} failed: {} (does it serve https?)", config_.endpoint,
                            resp.transport_detail);
          break;
        default:
          if (resp.too_large) {
            ec = Errc::kResponseTooLarge;
            why = fmt::format("{} {}: response too large", call.method, what);
            retry = outage = false;
          } else {
            error_class = S3Stats::kUnreachable;
            why = fmt::format("endpoint unreachable: {} ({})", config_.endpoint, resp.transport_detail);
          }
      }
    } else if (resp.status >= 200 && resp.status < 300) {
      outage_.Succeeded();
      if (!call.check) return finish({});
      ec = call.check(resp, &retry, &why);
      if (!ec) return finish({});
      if (ec == make_error_code(s3bd::Errc::kCorruptBlock)) error_class = S3Stats::kChecksum;
    } else {
      S3ErrorInfo info;
      if (!resp.body.empty()) {
        S3ErrorInfo parsed;
        if (!ParseErrorDocument(resp.body, &parsed)) info = parsed;
      }
      const std::string& code = info.code;
      const RetryClass rc = ClassifyHttp(resp.status, code);
      retry = IsRetryable(rc);
      outage = retry;
      if (!outage) outage_.Succeeded();  // the server answered
      if (resp.status == 304 && call.not_modified_ok) {
        call.not_modified = true;
        return finish({});
      }
      if (call.condition_ok &&
          (resp.status == 412 || (resp.status == 409 && code == "ConditionalRequestConflict") ||
           (resp.status == 404 && code == "NoSuchKey" && call.method == "PUT"))) {
        if (detail) *detail = fmt::format("{} {}: the condition did not hold (HTTP {})", call.method, what, resp.status);
        return finish(make_error_code(s3bd::Errc::kConditionFailed));
      }
      if (resp.status == 404 && code != "NoSuchBucket" && call.missing_ok) {
        call.found = false;
        return finish({});
      }
      const std::string status_text =
          code.empty() ? fmt::format("HTTP {}", resp.status) : fmt::format("HTTP {} {}", resp.status, code);
      if (retry) {
        ec = make_error_code(s3bd::Errc::kStoreUnavailable);
        error_class = rc == RetryClass::kThrottle ? S3Stats::kThrottled : S3Stats::kServer;
        why = fmt::format("S3 server error at {}: {}", config_.endpoint, status_text);
      } else if (code == "NoSuchBucket" || (resp.status == 404 && call.key.empty() && code.empty())) {
        ec = make_error_code(s3bd::Errc::kNoSuchVolume);
        error_class = S3Stats::kNoBucket;
        why = fmt::format("bucket {} does not exist", config_.bucket);
      } else if (code == "RequestTimeTooSkewed") {
        ec = make_error_code(s3bd::Errc::kAccessDenied);
        error_class = S3Stats::kAccess;
        why = fmt::format("access denied to {}: the system clock is too far from the server's ({})",
                          Location(), status_text);
      } else if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
                 code == "IllegalLocationConstraintException" || resp.status == 301) {
        ec = Errc::kHttpStatus;
        why = fmt::format("bucket {} is not in region {}: use --region ({})", config_.bucket, config_.region,
                          status_text);
      } else if (resp.status == 403 || resp.status == 401) {
        ec = make_error_code(s3bd::Errc::kAccessDenied);
        error_class = S3Stats::kAccess;
        why = config_.auth == AuthMode::kAnonymous
                  ? fmt::format("access denied to {}: it does not allow anonymous access ({})", Location(),
                                status_text)
                  : fmt::format("access denied to {}: check the credentials ({})", Location(), status_text);
      } else {
        ec = Errc::kHttpStatus;
        why = fmt::format("{} {}: {}{}", call.method, what, status_text,
                          info.message.empty() ? "" : ": " + OneLine(info.message));
      }
    }

    if (retry) {
      if (outage) outage_.Failed(why);
      const auto now = Clock::now();
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
      std::optional<std::chrono::milliseconds> pause;
      if (limit.until_answered && outage) {
        // No budget: the pause grows to its cap and stays there.
        pause = backoff.NextPause(std::chrono::milliseconds(0)).value_or(config_.retry.max_pause);
      } else {
        pause = backoff.NextPause(elapsed);
      }
      if (pause && error_class == S3Stats::kChecksum && config_.checksum_attempts != 0 &&
          attempt >= config_.checksum_attempts) {
        pause.reset();
      }
      if (pause && limit.give_up_at) {
        if (now >= *limit.give_up_at) {
          pause.reset();
        } else {
          pause = std::min(*pause, std::chrono::ceil<std::chrono::milliseconds>(*limit.give_up_at - now));
        }
      }
      if (pause) {
        stats_.CountRetry(error_class);
        spdlog::debug("{} {}: {}; retry {} in {} ms", call.method, what, why, attempt, pause->count());
        if (outage && !waiting) {
          waiting = true;
          outage_.Waiting(+1);
        }
        // Cut short when the retry limit changes (e.g. a stop): the next
        // attempt then runs under the new limit.
        std::unique_lock lock(limit_mu_);
        pause_cv_.wait_for(lock, *pause, [&] {
          return limit_.until_answered != limit.until_answered || limit_.give_up_at != limit.give_up_at;
        });
        continue;
      }
      why += limit.give_up_at && now >= *limit.give_up_at
                 ? fmt::format(" (gave up after {} attempts in {}: s3bd is stopping)", attempt,
                               Seconds(now - start))
                 : fmt::format(" (gave up after {} attempts in {})", attempt, Seconds(now - start));
    }
    stats_.CountError(error_class);
    if (detail) *detail = why;
    return finish(ec);
  }
}

std::error_code S3Client::GetObject(const std::string& key, std::string* body, bool* found,
                                    std::size_t max_size, std::string* detail, std::string* etag) {
  Call call;
  call.max_response = max_size;
  bool not_modified = false;
  if (auto ec = Get(call, key, nullptr, false, found, &not_modified, detail)) return ec;
  body->clear();
  if (etag) *etag = *found ? CleanEtag(call.response.Header("etag")) : std::string();
  if (*found) *body = std::move(call.response.body);
  return {};
}

std::error_code S3Client::GetObjectInto(const std::string& key, std::span<std::uint8_t> out, std::size_t* size,
                                        bool* found, std::string* detail, bool require_crc32c,
                                        std::vector<NameValue>* meta, std::string* etag,
                                        const std::string* if_none_match, bool* not_modified) {
  Call call;
  call.max_response = out.size();
  call.body_out = out;
  bool unchanged = false;
  *size = 0;
  if (meta) meta->clear();
  if (etag) etag->clear();
  if (auto ec = Get(call, key, if_none_match, require_crc32c, found, &unchanged, detail)) return ec;
  if (not_modified) *not_modified = unchanged;
  if (*found && !unchanged) {
    *size = call.response.Body().size();
    if (meta) *meta = ObjectMetaOf(call.response.headers);
    if (etag) *etag = CleanEtag(call.response.Header("etag"));
  }
  return {};
}

std::error_code S3Client::Get(Call& call, const std::string& key, const std::string* if_none_match,
                              bool require_crc32c, bool* found, bool* not_modified, std::string* detail) {
  call.kind = S3Stats::kGet;
  call.key = key;
  call.missing_ok = true;
  if (if_none_match != nullptr) {
    call.headers.emplace_back("If-None-Match", "\"" + *if_none_match + "\"");
    call.not_modified_ok = true;
  }
  // Verify what arrived: with the CRC-32C that s3bd's PUT stored with the
  // object, or else (objects written by other tools, e.g. s3backer) with the
  // ETag, which for a simple object is the MD5 of its content.
  call.check = [&](const HttpResponse& resp, bool* retry, std::string* why) -> std::error_code {
    const auto corrupt = [&](std::string_view what) {
      *retry = true;
      *why = fmt::format("GET {}: {}", ObjectUrlForLog(key), what);
      return make_error_code(s3bd::Errc::kCorruptBlock);
    };
    const ByteView body = resp.Body();
    if (const std::string* crc = resp.Header(kCrc32cMetaHeader)) {
      const std::optional<std::uint32_t> want = ParseCrc32Hex(*crc);
      if (!want) return corrupt(fmt::format("malformed {} header '{}'", kCrc32cMetaHeader, OneLine(*crc, 32)));
      if (MetaCrc(Crc32c(body), ObjectMetaOf(resp.headers)) != *want) {
        return corrupt("the data received (or its metadata) does not match its CRC-32C");
      }
      return {};
    }
    if (require_crc32c) {
      return corrupt(fmt::format("no {} header (every object of this volume has one)", kCrc32cMetaHeader));
    }
    const std::string etag = CleanEtag(resp.Header("etag"));
    const std::string* sse = resp.Header("x-amz-server-side-encryption");
    const bool encrypted = (sse && *sse == "aws:kms") ||
                           resp.Header("x-amz-server-side-encryption-customer-algorithm") != nullptr;
    if (encrypted) return {};  // its ETag is not the MD5 of the data: nothing to check it with
    if (!IsMd5Hex(etag)) {
      return corrupt(fmt::format("the object arrived without a checksum (no {} header, no MD5 ETag)",
                                 kCrc32cMetaHeader));
    }
    if (Md5Hex(body) != etag) return corrupt("the data received does not match its ETag");
    return {};
  };
  if (auto ec = Execute(call, detail)) return ec;
  *not_modified = call.not_modified;
  *found = call.found;
  return {};
}

void S3Client::AddCondition(Call& call, const MetaCondition& cond) const {
  switch (cond.kind) {
    case MetaCondition::Kind::kNone: break;
    case MetaCondition::Kind::kAbsent: call.headers.emplace_back("If-None-Match", "*"); break;
    case MetaCondition::Kind::kVersion:
      call.headers.emplace_back("If-Match", bare_if_match_.load() ? cond.version : "\"" + cond.version + "\"");
      break;
  }
  call.condition_ok = cond.kind != MetaCondition::Kind::kNone;
}

std::error_code S3Client::PutObject(const std::string& key, std::span<const std::uint8_t> body,
                                    std::string* detail, const MetaCondition& cond, std::string* etag_out,
                                    const std::vector<NameValue>& meta) {
  Call call;
  call.kind = S3Stats::kPut;
  call.method = "PUT";
  call.key = key;
  call.body = body;
  AddCondition(call, cond);
  call.headers.emplace_back("Content-Type", "application/octet-stream");
  // Stored with the object as user metadata, for GET to verify cheaply.
  call.headers.emplace_back(std::string(kCrc32cMetaHeader), Crc32Hex(MetaCrc(Crc32c(body), meta)));
  for (const auto& [name, value] : meta) {
    call.headers.emplace_back(name == "content-encoding" ? name : "x-amz-meta-" + name, value);
  }
  if (!config_.acl.empty()) call.headers.emplace_back("x-amz-acl", config_.acl);
  if (!config_.storage_class.empty()) call.headers.emplace_back("x-amz-storage-class", config_.storage_class);
  if (!config_.sse.empty()) call.headers.emplace_back("x-amz-server-side-encryption", config_.sse);
  if (!config_.sse_kms_key_id.empty()) {
    call.headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", config_.sse_kms_key_id);
  }
  if (config_.auth == AuthMode::kSigV4) {
    // The signed x-amz-content-sha256 protects the upload: the server
    // hashes the body it received and rejects the PUT if it differs, so no
    // MD5 is needed (and the ETag returned is not compared).
    call.payload_sha256 = Sha256Hex(body);
    auto ec = Execute(call, detail);
    if (!ec && etag_out) *etag_out = CleanEtag(call.response.Header("etag"));
    return ec;
  }
  // No payload hash (SigV2, anonymous): Content-MD5 makes the server check
  // the body, and the ETag returned must be its MD5 too, except with SSE-KMS
  // (whose ETag is not the MD5 of the data). Without MD5 (a FIPS-only
  // OpenSSL) neither is possible.
  const std::optional<Md5Digest> md5 = Md5(body);
  std::string md5_hex;
  if (md5) {
    call.headers.emplace_back("Content-MD5", Base64Encode(*md5));
    md5_hex = HexEncode(*md5);
  }
  const bool check_etag = md5 && config_.sse != "aws:kms";
  call.check = [&](const HttpResponse& resp, bool* retry, std::string* why) -> std::error_code {
    const std::string etag = CleanEtag(resp.Header("etag"));
    if (!check_etag || etag.empty() || etag == md5_hex) return {};
    *retry = true;
    *why = fmt::format("PUT {}: the ETag returned does not match the data sent", ObjectUrlForLog(key));
    return make_error_code(s3bd::Errc::kCorruptBlock);
  };
  auto ec = Execute(call, detail);
  if (!ec && etag_out) *etag_out = CleanEtag(call.response.Header("etag"));
  return ec;
}

std::error_code S3Client::DeleteObject(const std::string& key, std::string* detail, const MetaCondition& cond) {
  Call call;
  call.kind = S3Stats::kDelete;
  call.method = "DELETE";
  call.key = key;
  call.missing_ok = true;
  AddCondition(call, cond);
  auto ec = Execute(call, detail);
  if (!ec && !call.found && cond.kind == MetaCondition::Kind::kVersion) return make_error_code(s3bd::Errc::kConditionFailed);
  return ec;
}

std::error_code S3Client::HeadObject(const std::string& key, bool* found, std::uint64_t* size,
                                     std::string* detail) {
  Call call;
  call.kind = S3Stats::kHead;
  call.method = "HEAD";
  call.key = key;
  call.missing_ok = true;
  if (auto ec = Execute(call, detail)) return ec;
  *found = call.found;
  *size = 0;
  if (call.found) {
    if (const std::string* len = call.response.Header("content-length")) {
      try {
        *size = std::stoull(*len);
      } catch (const std::exception&) {
        if (detail) *detail = fmt::format("HEAD {}: bad Content-Length", ObjectUrlForLog(key));
        return Errc::kBadResponse;
      }
    }
  }
  return {};
}

std::error_code S3Client::ListObjects(const std::string& prefix, const std::string& start_after,
                                      const std::function<bool(const ListedObject&)>& fn,
                                      std::string* detail) {
  std::string token;
  for (;;) {
    Call call;
    call.kind = S3Stats::kList;
    call.max_response = kMaxXmlSize;
    call.query = {{"list-type", "2"}, {"prefix", prefix}, {"encoding-type", "url"}};
    if (token.empty() && !start_after.empty()) call.query.emplace_back("start-after", start_after);
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    ListObjectsResult page;
    call.check = [&](const HttpResponse& resp, bool* retry, std::string* why) -> std::error_code {
      std::string xml_detail;
      if (auto ec = ParseListObjectsV2(resp.body, &page, &xml_detail)) {
        *retry = false;
        *why = fmt::format("listing {}: cannot parse the response: {}", Location(),
                           xml_detail.empty() ? ec.message() : xml_detail);
        return Errc::kBadResponse;
      }
      return {};
    };
    if (auto ec = Execute(call, detail)) return ec;
    for (const ListedObject& o : page.objects) {
      if (!fn(o)) return {};
    }
    if (!page.is_truncated) return {};
    if (page.next_continuation_token.empty() || page.next_continuation_token == token) {
      if (detail) *detail = fmt::format("listing {}: the server's continuation token does not advance", Location());
      return Errc::kBadResponse;
    }
    token = page.next_continuation_token;
  }
}

std::error_code S3Client::DeleteObjects(std::span<const std::string> keys, std::string* detail) {
  for (std::size_t off = 0; off < keys.size(); off += kMaxDeleteKeys) {
    const auto batch = keys.subspan(off, std::min(kMaxDeleteKeys, keys.size() - off));
    std::string body;
    if (auto ec = BuildDeleteObjectsRequest(batch, /*quiet=*/true, &body, detail)) return ec;
    Call call;
    call.kind = S3Stats::kDeleteMulti;
    call.method = "POST";
    call.query = {{"delete", ""}};
    call.body = AsBytes(body);
    if (config_.auth == AuthMode::kSigV4) call.payload_sha256 = Sha256Hex(body);
    call.headers.emplace_back("Content-Type", "application/xml");
    call.headers.emplace_back("Content-MD5", Md5Base64(body));
    call.max_response = kMaxXmlSize;
    DeleteObjectsResult result;
    call.check = [&](const HttpResponse& resp, bool* retry, std::string* why) -> std::error_code {
      std::string xml_detail;
      if (auto ec = ParseDeleteObjectsResult(resp.body, &result, &xml_detail)) {
        *retry = false;
        *why = fmt::format("deleting from {}: cannot parse the response: {}", Location(),
                           xml_detail.empty() ? ec.message() : xml_detail);
        return Errc::kBadResponse;
      }
      return {};
    };
    if (auto ec = Execute(call, detail)) return ec;
    if (!result.errors.empty()) {
      const DeleteFailure& f = result.errors.front();
      if (detail) {
        *detail = fmt::format("cannot delete {} object(s) from {}, e.g. {}: {}", result.errors.size(), Location(),
                              f.key, f.code);
      }
      if (f.code == "AccessDenied") return make_error_code(s3bd::Errc::kAccessDenied);
      return Errc::kHttpStatus;
    }
  }
  return {};
}

std::error_code S3Client::ReadMeta(const std::string& key, std::string& value, std::string* version) {
  std::string detail;
  bool found = false;
  std::error_code ec = GetObject(config_.prefix + key, &value, &found, 1u << 20, &detail, version);
  if (!ec && !found) return std::make_error_code(std::errc::no_such_file_or_directory);
  std::lock_guard lock(meta_mu_);
  last_meta_error_ = detail;
  return ec;
}

std::error_code S3Client::WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                                    std::string* version) {
  std::string detail;
  std::error_code ec = PutObject(config_.prefix + key, AsBytes(value), &detail, cond, version);
  std::lock_guard lock(meta_mu_);
  last_meta_error_ = detail;
  return ec;
}

std::error_code S3Client::DeleteMeta(const std::string& key, const MetaCondition& cond) {
  std::string detail;
  std::error_code ec = DeleteObject(config_.prefix + key, &detail, cond);
  std::lock_guard lock(meta_mu_);
  last_meta_error_ = detail;
  return ec;
}

std::error_code S3Client::ProbeConditions(const std::string& key, bool* enforced) {
  // Every PUT sends the same body, so the object's ETag stays `etag` however
  // the server treats the conditions: no GET is needed.
  const std::string k = config_.prefix + key;
  const auto body = AsBytes(std::string_view("s3bd probe of conditional writes\n"));
  std::string detail, etag;
  const auto fail = [&](std::error_code ec) {
    std::lock_guard lock(meta_mu_);
    last_meta_error_ = detail;
    return ec;
  };
  const auto failed = [](std::error_code ec) { return ec == make_error_code(s3bd::Errc::kConditionFailed); };
  *enforced = false;
  std::error_code ec = PutObject(k, body, &detail, MetaCondition::Absent(), &etag);
  if (failed(ec)) {
    // Left over from an interrupted probe.
    if (auto e = DeleteObject(k, &detail)) return fail(e);
    ec = PutObject(k, body, &detail, MetaCondition::Absent(), &etag);
  }
  if (ec) return fail(ec);
  bool ok = true;
  ec = PutObject(k, body, &detail, MetaCondition::Absent());
  if (!ec) ok = false;  // If-None-Match: * ignored
  else if (!failed(ec)) return fail(ec);
  if (ok) {
    // A wrong ETag must be refused, in either spelling.
    ec = PutObject(k, body, &detail, MetaCondition::Version("0123456789abcdef0123456789abcdef"));
    if (!ec) ok = false;
    else if (!failed(ec)) return fail(ec);
  }
  if (ok) {
    bare_if_match_ = false;
    ec = PutObject(k, body, &detail, MetaCondition::Version(etag));
    if (failed(ec)) {
      bare_if_match_ = true;  // Ceph RGW 16: only the bare ETag matches
      ec = PutObject(k, body, &detail, MetaCondition::Version(etag));
      if (failed(ec)) {
        bare_if_match_ = false;
        ok = false;
        ec = {};
      }
    }
    if (ec) return fail(ec);
  }
  if (auto e = DeleteObject(k, &detail)) return fail(e);
  *enforced = ok;
  return {};
}

std::string S3Client::last_meta_error() const {
  std::lock_guard lock(meta_mu_);
  return last_meta_error_;
}

}  // namespace s3bd::s3
