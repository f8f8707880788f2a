// AWS Signature Version 2 for S3 (header "Authorization: AWS AKID:signature"),
// for old S3-compatible servers that do not speak SigV4 (--auth-version 2).
//
//   StringToSign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//                  CanonicalizedAmzHeaders CanonicalizedResource
//   Signature    = base64(HMAC-SHA1(secret, StringToSign))
//
//  - Content-MD5 / Content-Type: the header values, or empty.
//  - Date: the Date header, but empty when an x-amz-date header is present
//    (S3 then uses x-amz-date, which is signed among the x-amz- headers).
//  - CanonicalizedAmzHeaders: every x-amz-* header, name lowercased, value
//    trimmed with folded lines unfolded, repeats joined with ',', sorted by
//    name, each as "name:value\n".
//  - CanonicalizedResource: "/" + bucket + "/" + key as on the wire (the key
//    URI-encoded with '/' kept), whatever the addressing style, then the
//    subresources among the query parameters (acl, delete, uploadId,
//    response-content-type, ...) sorted by name, unencoded, as
//    "?name" or "?name=value" joined by '&'. Other query parameters
//    (prefix, marker, max-keys, ...) are not signed.
//
// Contract: pure string building, no exceptions. SignRequestV2() validates
// first (Errc::kInvalidRequest for a missing date, header injection, ...).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "s3bd/s3/credentials.h"
#include "s3bd/s3/sigv4.h"  // NameValue, UriEncode

namespace s3bd::s3 {

struct SigV2Request {
  std::string method;
  std::string bucket;              // empty for service-level requests (ListBuckets)
  std::string key;                 // decoded object key; empty for bucket-level requests
  std::vector<NameValue> query;    // decoded; only subresources are signed
  std::vector<NameValue> headers;  // as sent
};

// RFC 1123 date in GMT, "Tue, 27 Mar 2007 19:36:42 GMT" (locale-independent).
std::string FormatHttpDate(std::chrono::system_clock::time_point t);

// True for query parameter names that SigV2 signs (subresources and
// response-header overrides).
bool IsSigV2Subresource(std::string_view name);

std::string SigV2CanonicalAmzHeaders(const std::vector<NameValue>& headers);
std::string SigV2CanonicalResource(const SigV2Request& request);
std::string SigV2StringToSign(const SigV2Request& request);
// base64(HMAC-SHA1(secret, string_to_sign)).
std::string SigV2Signature(std::string_view string_to_sign, std::string_view secret_access_key);
// "AWS AKID:signature".
std::string SigV2AuthorizationHeader(const SigV2Request& request, const Credentials& credentials);

// The path and query for the request line: "/bucket/key" (path style) or
// "/key" (virtual-hosted style), key encoded as in the canonical resource,
// then every query parameter, encoded ("?delete", "?prefix=a%2Fb&max-keys=10").
std::string SigV2RequestTarget(const SigV2Request& request, bool virtual_hosted);

// Sets the Date header to `date` (see FormatHttpDate) and, with a session
// token, x-amz-security-token; replaces existing ones.
void AddSigV2Headers(SigV2Request& request, const Credentials& credentials, const std::string& date);

// Validates, adds the headers (AddSigV2Headers) and stores the Authorization
// header value in *authorization.
std::error_code SignRequestV2(SigV2Request& request, const Credentials& credentials,
                              const std::string& date, std::string* authorization,
                              std::string* detail = nullptr);

}  // namespace s3bd::s3
