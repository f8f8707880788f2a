// S3 store: one object per block. See the header for the design.
#include "s3bd/store/s3_store.h"

#include "s3bd/s3/rate_limit.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/s3/crypto.h"
#include "s3bd/s3/instance_metadata.h"

namespace s3bd {

S3Store::S3Store(std::shared_ptr<s3::S3Client> client, s3::KeyScheme scheme, Geometry g, bool require_crc32c)
    : ObjectStore("s3", g), client_(std::move(client)), scheme_(std::move(scheme)), require_crc32c_(require_crc32c) {}

namespace {

// The version of an object whose ETag is `etag`: known if it is an MD5.
ObjectVersion VersionOfEtag(const std::string& etag) {
  ObjectVersion v;
  if (etag.size() != 32) return v;
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned byte = 0;
    for (char c : etag.substr(2 * i, 2)) {
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return {};
      byte = byte * 16 + static_cast<unsigned>(d);
    }
    v.tag[i] = static_cast<std::uint8_t>(byte);
  }
  v.known = true;
  return v;
}

}  // namespace

std::error_code S3Store::GetBlock(BlockNum block, const std::string* if_none_match, std::span<std::uint8_t> buf,
                                  std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* version,
                                  bool* not_modified) {
  *not_modified = false;
  std::string detail, etag;
  std::vector<s3::NameValue> pairs;
  // The body goes straight into `buf` (which a failed read may leave changed).
  std::error_code ec = client_->GetObjectInto(s3::BlockKey(scheme_, block), buf, size, found, &detail,
                                              require_crc32c_, meta ? &pairs : nullptr, &etag, if_none_match,
                                              not_modified);
  if (ec == s3::Errc::kResponseTooLarge) {
    detail = fmt::format("object {} is longer than {} bytes", s3::BlockKey(scheme_, block), buf.size());
    ec = make_error_code(Errc::kBadBlockSize);
  }
  if (!ec && meta && *found) {
    meta->pairs.assign(pairs.begin(), pairs.end());
    if (!meta->Valid()) {
      detail = fmt::format("object {} has malformed metadata", s3::BlockKey(scheme_, block));
      ec = make_error_code(Errc::kCorruptBlock);
    }
  }
  if (ec) {
    spdlog::error("{} of block {}: {}", if_none_match ? "revalidation" : "read", BlockName(block),
                  detail.empty() ? ec.message() : detail);
    return ec;
  }
  if (version && *found) *version = VersionOfEtag(etag);
  return {};
}

std::error_code S3Store::DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                               ObjectMeta* meta, ObjectVersion* version) {
  bool not_modified = false;
  return GetBlock(block, nullptr, buf, size, found, meta, version, &not_modified);
}

std::error_code S3Store::DoGetIfChanged(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> buf,
                                        std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* now,
                                        bool* changed) {
  const std::string etag = s3::HexEncode(version.tag);
  bool not_modified = false;
  if (auto ec = GetBlock(block, &etag, buf, size, found, meta, now, &not_modified)) return ec;
  *changed = !not_modified;
  if (not_modified) {
    *size = 0;
    *found = true;
    if (now) *now = version;
  }
  return {};
}

std::error_code S3Store::DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                               ObjectVersion* version) {
  std::string detail, etag;
  const std::vector<s3::NameValue> pairs(meta.pairs.begin(), meta.pairs.end());
  if (auto ec = client_->PutObject(s3::BlockKey(scheme_, block), body, &detail, {}, &etag, pairs)) {
    spdlog::error("write of block {}: {}", BlockName(block), detail.empty() ? ec.message() : detail);
    return ec;
  }
  if (version) *version = VersionOfEtag(etag);
  return {};
}

std::error_code S3Store::DoDelete(BlockNum block) {
  std::string detail;
  if (auto ec = client_->DeleteObject(s3::BlockKey(scheme_, block), &detail)) {
    spdlog::error("zero of block {}: {}", BlockName(block), detail.empty() ? ec.message() : detail);
    return ec;
  }
  return {};
}

std::error_code S3Store::DoFlush() { return {}; }

std::error_code S3Store::DoList(const std::function<void(BlockNum)>& fn) {
  std::string detail;
  std::error_code ec = ListBlocks(fn, &detail);
  if (ec) spdlog::error("listing {}: {}", client_->Location(), detail.empty() ? ec.message() : detail);
  return ec;
}

std::vector<std::string> S3Store::RangeBoundaries(unsigned ranges) const {
  std::vector<std::string> bounds;
  const std::uint64_t n = geometry().num_blocks;
  for (unsigned i = 1; i < ranges; ++i) {
    if (scheme_.hash_prefix) {
      // Hashes are spread evenly over 32 bits (more for huge block numbers).
      bounds.push_back(scheme_.prefix + fmt::format("{:08x}", (std::uint64_t{i} << 32) / ranges));
    } else {
      bounds.push_back(s3::BlockKey(scheme_, static_cast<BlockNum>(n / ranges * i + n % ranges * i / ranges)));
    }
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}

std::error_code S3Store::ListRanges(const std::function<void(unsigned, const s3::ListedObject&)>& fn,
                                    unsigned* ranges_out, std::string* detail,
                                    const std::function<void(std::uint64_t, unsigned, unsigned)>& progress) {
  const std::uint64_t n = geometry().num_blocks;
  const unsigned wanted = static_cast<unsigned>(
      std::clamp<std::uint64_t>(n / 1000, 1, std::min<std::uint64_t>(16, client_->config().http.max_parallel)));
  const std::vector<std::string> bounds = RangeBoundaries(wanted);
  const unsigned ranges = static_cast<unsigned>(bounds.size() + 1);
  *ranges_out = ranges;

  std::atomic<std::uint64_t> total{0};
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards done, first_ec, first_detail; never held during a request
  std::condition_variable cv;
  unsigned done = 0;
  std::error_code first_ec;
  std::string first_detail;

  auto worker = [&](unsigned r) {
    const std::string start_after = r == 0 ? std::string() : bounds[r - 1];
    const std::string* end = r + 1 < ranges ? &bounds[r] : nullptr;
    std::string why;
    const std::error_code ec = client_->ListObjects(
        scheme_.prefix, start_after,
        [&](const s3::ListedObject& o) {
          if (failed.load()) return false;
          if (end != nullptr && o.key > *end) return false;
          fn(r, o);
          total++;
          return true;
        },
        &why);
    std::lock_guard lock(mu);
    if (ec && !first_ec) {
      first_ec = ec;
      first_detail = why;
      failed = true;
    }
    ++done;
    cv.notify_all();
  };

  std::vector<std::thread> threads;
  threads.reserve(ranges);
  for (unsigned r = 0; r < ranges; ++r) threads.emplace_back(worker, r);
  {
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return done == ranges; })) {
      if (progress) {
        const unsigned d = done;
        lock.unlock();
        progress(total.load(), d, ranges);
        lock.lock();
      }
    }
  }
  for (auto& t : threads) t.join();
  if (first_ec) {
    if (detail) *detail = first_detail;
    return first_ec;
  }
  if (progress) progress(total.load(), ranges, ranges);
  return {};
}

std::error_code S3Store::ListBlocks(const std::function<void(BlockNum)>& fn, std::string* detail,
                                    const std::function<void(std::uint64_t, unsigned, unsigned)>& progress) {
  const std::uint64_t n = geometry().num_blocks;
  std::vector<std::vector<BlockNum>> found(16);
  unsigned ranges = 0;
  if (auto ec = ListRanges(
          [&](unsigned r, const s3::ListedObject& o) {
            if (auto b = s3::ParseBlockKey(scheme_, o.key); b && *b < n) found[r].push_back(*b);
          },
          &ranges, detail, progress)) {
    return ec;
  }
  for (const auto& v : found) {
    for (BlockNum b : v) fn(b);
  }
  return {};
}

std::error_code S3Store::ListAllObjects(const std::function<void(const s3::ListedObject&)>& fn, std::string* detail,
                                        const std::function<void(std::uint64_t, unsigned, unsigned)>& progress) {
  std::vector<std::vector<s3::ListedObject>> found(16);
  unsigned ranges = 0;
  if (auto ec = ListRanges([&](unsigned r, const s3::ListedObject& o) { found[r].push_back(o); }, &ranges, detail,
                           progress)) {
    return ec;
  }
  for (const auto& v : found) {
    for (const auto& o : v) fn(o);
  }
  return {};
}

s3::KeyScheme S3KeyScheme(const StoreConfig& config) {
  return s3::KeyScheme{config.s3.prefix, config.s3.hash_prefix};
}

std::shared_ptr<s3::S3Client> OpenS3Client(const StoreConfig& config) {
  const S3Config& c = config.s3;
  s3::S3ClientConfig cc;
  cc.bucket = c.bucket;
  cc.prefix = c.prefix;
  cc.region = s3::ResolveRegion(c.region, nullptr, c.profile);
  cc.endpoint = c.endpoint.empty() ? fmt::format("https://s3.{}.amazonaws.com", cc.region) : c.endpoint;
  switch (c.addressing) {
    case S3Config::Addressing::kPath: cc.addressing = s3::Addressing::kPath; break;
    case S3Config::Addressing::kVirtualHost: cc.addressing = s3::Addressing::kVirtualHost; break;
    case S3Config::Addressing::kAuto:
      // AWS: virtual-hosted, except for dotted names, which its wildcard
      // certificate does not cover. Other endpoints: path style.
      cc.addressing = c.endpoint.empty() && c.bucket.find('.') == std::string::npos ? s3::Addressing::kVirtualHost
                                                                                   : s3::Addressing::kPath;
  }
  cc.auth = c.anonymous ? s3::AuthMode::kAnonymous : c.auth_version == 2 ? s3::AuthMode::kSigV2 : s3::AuthMode::kSigV4;
  cc.storage_class = c.storage_class;
  cc.sse = c.sse;
  cc.sse_kms_key_id = c.sse_kms_key_id;
  cc.acl = c.acl;
  cc.retry.budget = std::chrono::seconds(c.max_retry_time_s);
  cc.http.request_timeout = std::chrono::seconds(c.timeout_s);
  cc.http.connect_timeout = std::chrono::seconds(std::min(c.timeout_s, 10u));
  cc.http.low_speed_time = std::chrono::seconds(std::min(c.timeout_s, 20u));
  cc.http.verify_tls = !c.insecure;
  cc.http.ca_file = c.ca_file;
  cc.http.max_parallel = c.connections;
  if (c.max_upload_speed) cc.http.upload_limit = std::make_shared<s3::RateLimiter>(c.max_upload_speed);
  if (c.max_download_speed) cc.http.download_limit = std::make_shared<s3::RateLimiter>(c.max_download_speed);
  cc.checksum_attempts = c.checksum_attempts;
  if (!c.ca_file.empty() && ::access(c.ca_file.c_str(), R_OK) != 0) {
    throw StartupError(fmt::format("--ca-file {}: {}", c.ca_file, std::strerror(errno)));
  }

  std::string where = "s3://" + c.bucket + (c.prefix.empty() ? "" : "/" + c.prefix);
  if (where.back() == '/') where.pop_back();
  std::shared_ptr<s3::CredentialProvider> provider;
  if (!c.anonymous) {
    s3::CredentialChainOptions chain;
    chain.credentials_file = c.credentials_file;
    chain.access_key_id = c.access_key_id;
    chain.profile = c.profile;
    std::shared_ptr<s3::InstanceMetadataClient> imds;
    std::optional<std::chrono::system_clock::time_point> expiration;
    bool from_imds = false;
    if (auto options = s3::InstanceMetadataFromEnvironment(nullptr)) {
      imds = std::make_shared<s3::InstanceMetadataClient>(*options);
      chain.instance_metadata = [&](s3::Credentials* out, std::string* why) {
        std::error_code ec = imds->Fetch(out, &expiration, why);
        from_imds = !ec;
        return ec;
      };
    }
    s3::Credentials creds;
    std::string why;
    if (auto ec = s3::ResolveCredentials(chain, &creds, &why)) {
      if (ec == s3::Errc::kCredentialsNotFound) {
        throw StartupError(fmt::format("no credentials for {}: {} (see CREDENTIALS in s3bd(8), or use --anonymous)",
                                       where, why.empty() ? ec.message() : why));
      }
      throw StartupError(fmt::format("credentials: {}", why.empty() ? ec.message() : why));
    }
    spdlog::debug("using {}", creds.Describe());
    if (from_imds) {
      provider = std::make_shared<s3::CredentialProvider>(
          std::move(creds), expiration,
          [imds](s3::Credentials* out, std::optional<std::chrono::system_clock::time_point>* exp,
                 std::string* d) { return imds->Fetch(out, exp, d); });
    } else {
      provider = std::make_shared<s3::CredentialProvider>(std::move(creds));
    }
  }
  return std::make_shared<s3::S3Client>(std::move(cc), std::move(provider));
}

void S3Store::FillOwnStats(StatsJson& j) const {
  j["location"] = client_->Location();
  client_->stats().Fill(j);
  client_->outage().Fill(j["outage"]);
  // The bandwidth limits, if any (rate_limit.h).
  if (const auto& l = client_->config().http.upload_limit) j["upload_limit"] = l->ToJson();
  if (const auto& l = client_->config().http.download_limit) j["download_limit"] = l->ToJson();
}

}  // namespace s3bd
