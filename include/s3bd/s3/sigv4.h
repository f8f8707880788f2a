// AWS Signature Version 4 (header-based, "AWS4-HMAC-SHA256") for S3.
//
// Pure string building, no HTTP: the HTTP layer fills a SigV4Request with
// exactly what it is going to send, calls SignRequest(), and sends the
// request's headers plus the returned Authorization header to the URL
// endpoint + RequestTarget(request).
//
// S3 rules implemented here:
//  - `path` is the decoded path ("/bucket/my key.txt"); it is URI-encoded
//    once (UriEncode(path, /*keep_slash=*/true)) both for the wire and the
//    canonical request, and never normalised ("//", "/./" and "/../" are
//    kept, as S3 treats them as part of the key).
//  - Query parameters are decoded (name, value) pairs; the canonical query
//    string encodes both and sorts by encoded name, then encoded value. A
//    subresource such as "?delete" is the pair ("delete", "").
//  - Header names are lowercased; values trimmed with inner whitespace runs
//    collapsed to one space; repeated names joined with ',' in order; headers
//    sorted by name. Every header in the request is signed.
//  - The payload hash is lowercase hex SHA-256 of the body, or
//    "UNSIGNED-PAYLOAD"; S3 also wants it in x-amz-content-sha256, which
//    AddSigningHeaders() adds.
//
// Contract: no exceptions. The Canonical*/StringToSign/Signature functions
// are total (they do not validate); SignRequest() validates first and
// returns Errc::kInvalidRequest for input that must not be sent (bad
// timestamp, missing Host, header names or values with CR/LF or other
// control characters).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "s3bd/s3/credentials.h"
#include "s3bd/s3/crypto.h"
#include "s3bd/s3/errors.h"

namespace s3bd::s3 {

using NameValue = std::pair<std::string, std::string>;

// SHA-256 of the empty string, the payload hash of a request without a body.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct SigV4Request {
  std::string method;                // "GET", "PUT", ...
  std::string path = "/";            // decoded, absolute; see above
  std::vector<NameValue> query;      // decoded; order irrelevant
  std::vector<NameValue> headers;    // as sent; must include Host
  std::string payload_sha256 = std::string(kEmptyPayloadSha256);
};

struct SigV4Scope {
  std::string region = "us-east-1";
  std::string service = "s3";
  std::string timestamp;  // ISO 8601 basic, "YYYYMMDDTHHMMSSZ" (UTC)
};

// RFC 3986 percent-encoding as AWS wants it: A-Z a-z 0-9 - _ . ~ kept, every
// other byte as %XX with uppercase hex (UTF-8 is thus encoded bytewise);
// '/' kept only if keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash);

// "YYYYMMDDTHHMMSSZ" for a point in time (UTC).
std::string FormatAmzDate(std::chrono::system_clock::time_point t);
// True if `ts` has the shape YYYYMMDDTHHMMSSZ with plausible field values.
bool IsValidAmzDate(std::string_view ts);

// The pieces of the canonical request.
std::string CanonicalUri(std::string_view path);
std::string CanonicalQueryString(const std::vector<NameValue>& query);
struct CanonicalHeaderSet {
  std::string canonical;       // "name:value\n" lines
  std::string signed_headers;  // "name1;name2"
};
CanonicalHeaderSet CanonicalHeaders(const std::vector<NameValue>& headers);
// A header value as it appears in the canonical request.
std::string CanonicalHeaderValue(std::string_view value);

// The path and query to put on the request line: CanonicalUri(path), then
// '?' and CanonicalQueryString(query) if there is a query.
std::string RequestTarget(const SigV4Request& request);

std::string CanonicalRequest(const SigV4Request& request);
// "YYYYMMDD/region/service/aws4_request".
std::string CredentialScope(const SigV4Scope& scope);
std::string StringToSign(const SigV4Request& request, const SigV4Scope& scope);
// The derived key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
Sha256Digest SigningKey(std::string_view secret_access_key, const SigV4Scope& scope);
// Lowercase hex signature.
std::string Signature(const SigV4Request& request, const Credentials& credentials,
                      const SigV4Scope& scope);
// The value of the Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=..., Signature=...".
std::string AuthorizationHeader(const SigV4Request& request, const Credentials& credentials,
                                const SigV4Scope& scope);

// Adds (replacing any existing ones) x-amz-date from scope.timestamp,
// x-amz-content-sha256 from request.payload_sha256 if `content_sha256` (S3
// needs it), and x-amz-security-token if the credentials have a session
// token.
void AddSigningHeaders(SigV4Request& request, const Credentials& credentials,
                       const SigV4Scope& scope, bool content_sha256 = true);

// Validates, adds the signing headers (as AddSigningHeaders with
// content_sha256 = true) and stores the Authorization header value in
// *authorization.
std::error_code SignRequest(SigV4Request& request, const Credentials& credentials,
                            const SigV4Scope& scope, std::string* authorization,
                            std::string* detail = nullptr);

}  // namespace s3bd::s3
