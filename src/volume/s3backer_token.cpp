// s3backer's mount token; see include/s3bd/volume/s3backer_token.h.
#include "s3bd/volume/s3backer_token.h"

#include <ctime>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/codec/s3backer_format.h"

namespace s3bd {

namespace {

constexpr std::string_view kOurs = "s3bd mount-id ";

// One line of text from the store, safe to print.
std::string Clean(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  return out;
}

}  // namespace

S3backerMountToken::S3backerMountToken(std::shared_ptr<s3::S3Client> client, std::string prefix, std::string host)
    : client_(std::move(client)), key_(prefix + std::string(codec::s3backer::kMountTokenKey)), host_(std::move(host)) {}

std::error_code S3backerMountToken::Check(bool* foreign, std::string* holder) {
  std::vector<std::uint8_t> body(4096);
  std::size_t size = 0;
  bool found = false;
  std::string detail;
  std::vector<s3::NameValue> meta;
  std::error_code ec = client_->GetObjectInto(key_, body, &size, &found, &detail, false, &meta);
  if (ec == s3::Errc::kResponseTooLarge) {
    ec = {};
    found = true;
    size = 0;
  }
  if (ec) {
    spdlog::error("{}: {}", key_, detail.empty() ? ec.message() : detail);
    return ec;
  }
  *foreign = false;
  if (!found) return {};
  const std::string text(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(size));
  if (text.find(std::string("\n") + std::string(kOurs)) != std::string::npos) return {};
  *foreign = true;
  std::string token = "no token";
  for (const auto& [name, value] : meta) {
    if (name == codec::s3backer::kMountTokenMeta) token = "mount token 0x" + Clean(value);
  }
  const std::size_t nl = text.find('\n');
  const std::string host = Clean(text.substr(0, nl));
  const std::string when = nl == std::string::npos ? "" : Clean(text.substr(nl + 1, text.find('\n', nl + 1) - nl - 1));
  *holder = fmt::format("s3backer ({} in {}{})", token, key_,
                        host.empty() ? "" : fmt::format(", set by {}{}", host, when.empty() ? "" : " at " + when));
  return {};
}

std::error_code S3backerMountToken::Set(const std::string& mount_id) {
  std::random_device rd;
  const std::uint32_t token = static_cast<std::uint32_t>(rd()) | 1;  // never 0, which s3backer reads as "none"
  char when[32] = "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (gmtime_r(&now, &tm) != nullptr) std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
  const std::string body = fmt::format("{}\n{}\n{}{}\n", host_, when, kOurs, mount_id);
  std::string detail;
  const std::vector<s3::NameValue> meta{{std::string(codec::s3backer::kMountTokenMeta),
                                         codec::s3backer::FormatMountToken(token)}};
  if (auto ec = client_->PutObject(key_, {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}, &detail,
                                   {}, nullptr, meta)) {
    spdlog::error("{}: {}", key_, detail.empty() ? ec.message() : detail);
    return ec;
  }
  spdlog::debug("set s3backer's mount token {} (0x{})", key_, codec::s3backer::FormatMountToken(token));
  return {};
}

std::error_code S3backerMountToken::Clear() {
  std::string detail;
  if (auto ec = client_->DeleteObject(key_, &detail)) {
    spdlog::error("{}: {}", key_, detail.empty() ? ec.message() : detail);
    return ec;
  }
  return {};
}

std::string S3backerMountToken::HowToClear() const {
  return fmt::format("remove its mount token with `s3backer --reset-mounted-flag` (or delete the object {})", key_);
}

}  // namespace s3bd
