// AWS Signature Version 2 for S3; see include/s3bd/s3/sigv2.h.
#include "s3bd/s3/sigv2.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <map>

#include "s3bd/s3/crypto.h"

namespace s3bd::s3 {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Trims, and replaces each line fold (CR/LF plus the whitespace around it) by
// one space; other inner whitespace is kept as is.
std::string Unfold(std::string_view value) {
  value = Trim(value);
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r' || value[i] == '\n') {
      while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
      while (i + 1 < value.size() && IsSpace(value[i + 1])) ++i;
      out.push_back(' ');
      continue;
    }
    out.push_back(value[i]);
  }
  return out;
}

// The (trimmed) value of the first header with this lowercase name, or "".
std::string HeaderValue(const std::vector<NameValue>& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (Lower(name) == lower_name) return std::string(Trim(value));
  }
  return {};
}

bool HasHeader(const std::vector<NameValue>& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const NameValue& h) { return Lower(h.first) == lower_name; });
}

void SetHeader(std::vector<NameValue>& headers, std::string_view name, std::string value) {
  const std::string lower = Lower(name);
  std::erase_if(headers, [&](const NameValue& h) { return Lower(h.first) == lower; });
  headers.emplace_back(std::string(name), std::move(value));
}

bool HasControlChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

// Query parameters that are part of the SigV2 canonicalized resource: the
// S3 subresources plus the response-* header overrides.
constexpr std::array<std::string_view, 37> kSubresources = {
    "accelerate", "acl", "analytics", "cors", "delete", "encryption", "inventory", "legal-hold",
    "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "partNumber",
    "policy", "replication", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires", "restore", "retention", "select", "select-type",
    "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    "ownershipControls"};

}  // namespace

std::string FormatHttpDate(std::chrono::system_clock::time_point t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                              kDays[static_cast<std::size_t>(tm.tm_wday % 7)], tm.tm_mday,
                              kMonths[static_cast<std::size_t>(tm.tm_mon % 12)], tm.tm_year + 1900,
                              tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

bool IsSigV2Subresource(std::string_view name) {
  return std::find(kSubresources.begin(), kSubresources.end(), name) != kSubresources.end();
}

std::string SigV2CanonicalAmzHeaders(const std::vector<NameValue>& headers) {
  std::map<std::string, std::string> merged;
  for (const auto& [name, value] : headers) {
    const std::string lower = Lower(Trim(name));
    if (!lower.starts_with("x-amz-")) continue;
    auto [it, inserted] = merged.try_emplace(lower, Unfold(value));
    if (!inserted) {
      it->second.push_back(',');
      it->second += Unfold(value);
    }
  }
  std::string out;
  for (const auto& [name, value] : merged) {
    out += name;
    out.push_back(':');
    out += value;
    out.push_back('\n');
  }
  return out;
}

std::string SigV2CanonicalResource(const SigV2Request& request) {
  std::string out = "/";
  if (!request.bucket.empty()) {
    out += request.bucket;
    out.push_back('/');
    out += UriEncode(request.key, /*keep_slash=*/true);
  }
  std::vector<NameValue> sub;
  for (const auto& nv : request.query) {
    if (IsSigV2Subresource(nv.first)) sub.push_back(nv);
  }
  std::stable_sort(sub.begin(), sub.end(),
                   [](const NameValue& a, const NameValue& b) { return a.first < b.first; });
  char sep = '?';
  for (const auto& [name, value] : sub) {
    out.push_back(sep);
    sep = '&';
    out += name;
    if (!value.empty()) {
      out.push_back('=');
      out += value;
    }
  }
  return out;
}

std::string SigV2StringToSign(const SigV2Request& request) {
  std::string out = request.method;
  out.push_back('\n');
  out += HeaderValue(request.headers, "content-md5");
  out.push_back('\n');
  out += HeaderValue(request.headers, "content-type");
  out.push_back('\n');
  if (!HasHeader(request.headers, "x-amz-date")) out += HeaderValue(request.headers, "date");
  out.push_back('\n');
  out += SigV2CanonicalAmzHeaders(request.headers);
  out += SigV2CanonicalResource(request);
  return out;
}

std::string SigV2Signature(std::string_view string_to_sign, std::string_view secret_access_key) {
  return Base64Encode(HmacSha1(secret_access_key, string_to_sign));
}

std::string SigV2AuthorizationHeader(const SigV2Request& request, const Credentials& credentials) {
  return "AWS " + credentials.access_key_id + ":" +
         SigV2Signature(SigV2StringToSign(request), credentials.secret_access_key);
}

std::string SigV2RequestTarget(const SigV2Request& request, bool virtual_hosted) {
  std::string out = "/";
  if (!virtual_hosted && !request.bucket.empty()) {
    out += request.bucket;
    out.push_back('/');
  }
  out += UriEncode(request.key, /*keep_slash=*/true);
  char sep = '?';
  for (const auto& [name, value] : request.query) {
    out.push_back(sep);
    sep = '&';
    out += UriEncode(name, false);
    if (!value.empty()) {
      out.push_back('=');
      out += UriEncode(value, false);
    }
  }
  return out;
}

void AddSigV2Headers(SigV2Request& request, const Credentials& credentials, const std::string& date) {
  SetHeader(request.headers, "Date", date);
  if (!credentials.session_token.empty()) {
    SetHeader(request.headers, "x-amz-security-token", credentials.session_token);
  }
}

std::error_code SignRequestV2(SigV2Request& request, const Credentials& credentials,
                              const std::string& date, std::string* authorization,
                              std::string* detail) {
  const auto fail = [&](std::string why) {
    if (detail != nullptr) *detail = std::move(why);
    return make_error_code(Errc::kInvalidRequest);
  };
  if (request.method.empty() ||
      !std::all_of(request.method.begin(), request.method.end(),
                   [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return fail("invalid HTTP method");
  }
  if (Trim(date).empty() || HasControlChar(date)) return fail("invalid Date");
  if (credentials.access_key_id.empty() || HasControlChar(credentials.access_key_id) ||
      credentials.access_key_id.find_first_of(": ") != std::string::npos) {
    return fail("invalid access key id");
  }
  if (credentials.secret_access_key.empty()) return fail("empty secret access key");
  if (HasControlChar(credentials.session_token)) return fail("session token contains a control character");
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasControlChar(name) || name.find_first_of(": ") != std::string::npos) {
      return fail("invalid header name");
    }
    if (Lower(name) == "authorization") return fail("request already has an Authorization header");
    if (HasControlChar(value)) return fail("value of header '" + Lower(name) + "' contains a control character");
  }
  AddSigV2Headers(request, credentials, date);
  *authorization = SigV2AuthorizationHeader(request, credentials);
  return {};
}

}  // namespace s3bd::s3
