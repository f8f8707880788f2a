// AWS Signature Version 4 for S3; see include/s3bd/s3/sigv4.h for the rules
// and the contract.
#include "s3bd/s3/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>
#include <map>

namespace s3bd::s3 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), AsciiLower);
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// RFC 7230 "tchar": the characters allowed in a header name or method.
bool IsTokenChar(unsigned char c) {
  if (IsUnreserved(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '^': case '`': case '|':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return IsTokenChar(static_cast<unsigned char>(c));
  });
}

// Control characters other than horizontal tab cannot appear in a header
// value sent on the wire (CR/LF would allow header injection).
bool HasControlChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f');
  });
}

int TwoDigits(std::string_view s, std::size_t at) { return (s[at] - '0') * 10 + (s[at + 1] - '0'); }

std::string_view DateOf(std::string_view timestamp) {
  return timestamp.substr(0, std::min<std::size_t>(8, timestamp.size()));
}

void SetHeader(std::vector<NameValue>& headers, std::string_view lower_name, std::string value) {
  std::erase_if(headers, [&](const NameValue& h) { return Lower(h.first) == lower_name; });
  headers.emplace_back(std::string(lower_name), std::move(value));
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::string FormatAmzDate(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

bool IsValidAmzDate(std::string_view ts) {
  if (ts.size() != 16 || ts[8] != 'T' || ts[15] != 'Z') return false;
  for (std::size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (!IsDigit(ts[i])) return false;
  }
  const int month = TwoDigits(ts, 4), day = TwoDigits(ts, 6);
  const int hour = TwoDigits(ts, 9), minute = TwoDigits(ts, 11), second = TwoDigits(ts, 13);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
         second <= 60;
}

std::string CanonicalUri(std::string_view path) {
  if (path.empty()) return "/";
  return UriEncode(path, /*keep_slash=*/true);
}

std::string CanonicalQueryString(const std::vector<NameValue>& query) {
  std::vector<NameValue> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

CanonicalHeaderSet CanonicalHeaders(const std::vector<NameValue>& headers) {
  // std::map sorts by the lowercased name; values of a repeated name keep
  // their order of appearance.
  std::map<std::string, std::string> merged;
  for (const auto& [name, value] : headers) {
    const std::string key = Lower(CanonicalHeaderValue(name));
    auto [it, inserted] = merged.try_emplace(key, CanonicalHeaderValue(value));
    if (!inserted) {
      it->second.push_back(',');
      it->second += CanonicalHeaderValue(value);
    }
  }
  CanonicalHeaderSet out;
  for (const auto& [name, value] : merged) {
    out.canonical += name;
    out.canonical.push_back(':');
    out.canonical += value;
    out.canonical.push_back('\n');
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }
  return out;
}

std::string RequestTarget(const SigV4Request& request) {
  std::string target = CanonicalUri(request.path);
  if (!request.query.empty()) {
    target.push_back('?');
    target += CanonicalQueryString(request.query);
  }
  return target;
}

std::string CanonicalRequest(const SigV4Request& request) {
  const CanonicalHeaderSet headers = CanonicalHeaders(request.headers);
  std::string out;
  out += request.method;
  out.push_back('\n');
  out += CanonicalUri(request.path);
  out.push_back('\n');
  out += CanonicalQueryString(request.query);
  out.push_back('\n');
  out += headers.canonical;
  out.push_back('\n');
  out += headers.signed_headers;
  out.push_back('\n');
  out += request.payload_sha256;
  return out;
}

std::string CredentialScope(const SigV4Scope& scope) {
  std::string out(DateOf(scope.timestamp));
  out += '/';
  out += scope.region;
  out += '/';
  out += scope.service;
  out += "/aws4_request";
  return out;
}

std::string StringToSign(const SigV4Request& request, const SigV4Scope& scope) {
  std::string out(kAlgorithm);
  out.push_back('\n');
  out += scope.timestamp;
  out.push_back('\n');
  out += CredentialScope(scope);
  out.push_back('\n');
  out += Sha256Hex(CanonicalRequest(request));
  return out;
}

Sha256Digest SigningKey(std::string_view secret_access_key, const SigV4Scope& scope) {
  std::string seed = "AWS4";
  seed += secret_access_key;
  const Sha256Digest k_date = HmacSha256(AsBytes(seed), AsBytes(DateOf(scope.timestamp)));
  OPENSSL_cleanse(seed.data(), seed.size());  // do not leave the secret around longer than needed
  const Sha256Digest k_region = HmacSha256(k_date, AsBytes(scope.region));
  const Sha256Digest k_service = HmacSha256(k_region, AsBytes(scope.service));
  return HmacSha256(k_service, AsBytes(std::string_view("aws4_request")));
}

std::string Signature(const SigV4Request& request, const Credentials& credentials,
                      const SigV4Scope& scope) {
  const Sha256Digest key = SigningKey(credentials.secret_access_key, scope);
  return HexEncode(HmacSha256(key, AsBytes(StringToSign(request, scope))));
}

std::string AuthorizationHeader(const SigV4Request& request, const Credentials& credentials,
                                const SigV4Scope& scope) {
  std::string out(kAlgorithm);
  out += " Credential=";
  out += credentials.access_key_id;
  out += '/';
  out += CredentialScope(scope);
  out += ", SignedHeaders=";
  out += CanonicalHeaders(request.headers).signed_headers;
  out += ", Signature=";
  out += Signature(request, credentials, scope);
  return out;
}

void AddSigningHeaders(SigV4Request& request, const Credentials& credentials,
                       const SigV4Scope& scope, bool content_sha256) {
  SetHeader(request.headers, "x-amz-date", scope.timestamp);
  if (content_sha256) SetHeader(request.headers, "x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty()) {
    SetHeader(request.headers, "x-amz-security-token", credentials.session_token);
  }
}

std::error_code SignRequest(SigV4Request& request, const Credentials& credentials,
                            const SigV4Scope& scope, std::string* authorization,
                            std::string* detail) {
  const auto fail = [&](std::string why) {
    if (detail != nullptr) *detail = std::move(why);
    return make_error_code(Errc::kInvalidRequest);
  };
  if (!IsToken(request.method)) return fail("invalid HTTP method");
  if (request.path.empty() || request.path.front() != '/') return fail("path must start with '/'");
  if (!IsValidAmzDate(scope.timestamp)) return fail("timestamp is not YYYYMMDDTHHMMSSZ");
  const auto bad_scope_part = [](std::string_view s) {
    return s.empty() || HasControlChar(s) || s.find_first_of("/ ") != std::string_view::npos;
  };
  if (bad_scope_part(scope.region)) return fail("invalid region");
  if (bad_scope_part(scope.service)) return fail("invalid service name");
  if (bad_scope_part(credentials.access_key_id) ||
      credentials.access_key_id.find(',') != std::string::npos) {
    return fail("invalid access key id");
  }
  if (credentials.secret_access_key.empty()) return fail("empty secret access key");
  if (HasControlChar(credentials.session_token)) return fail("session token contains a control character");
  if (!IsLowerHex64(request.payload_sha256) && request.payload_sha256 != kUnsignedPayload) {
    return fail("payload hash is neither lowercase hex SHA-256 nor UNSIGNED-PAYLOAD");
  }
  bool have_host = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name)) return fail("invalid header name");
    const std::string lower = Lower(name);
    if (lower == "authorization") return fail("request already has an Authorization header");
    if (HasControlChar(value)) return fail("value of header '" + lower + "' contains a control character");
    if (lower == "host" && !CanonicalHeaderValue(value).empty()) have_host = true;
  }
  if (!have_host) return fail("missing Host header");

  AddSigningHeaders(request, credentials, scope, /*content_sha256=*/true);
  *authorization = AuthorizationHeader(request, credentials, scope);
  return {};
}

}  // namespace s3bd::s3
