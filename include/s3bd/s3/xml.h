// S3 XML documents: parsing the responses s3bd needs (ListObjectsV2,
// ListObjects V1, Error, DeleteObjects result) and building the
// DeleteObjects request body. Uses pugixml; no HTTP, no signing.
//
// Contract:
//  - Parsers take the raw response body, never throw and never crash on
//    any input; they return {} and fill *out, or an Errc with a detail
//    string (which may quote element names, never element contents):
//      kXmlTooLarge       body over kMaxXmlSize;
//      kMalformedXml      not well-formed or truncated, not UTF-8, a DTD
//                         (refused: S3 never sends one), undefined entity
//                         or invalid character reference, several roots;
//      kUnexpectedXml     a different document (e.g. <Error> where a
//                         listing was expected);
//      kMissingXmlElement a required element is absent (e.g. a <Contents>
//                         without <Key>, or IsTruncated=true without a way
//                         to continue);
//      kBadXmlValue       unparseable / out-of-range value, duplicated
//                         single-valued element, markup inside a text
//                         element.
//    On error *out is left unchanged.
//  - Element names are matched on their local name (any namespace prefix is
//    ignored). Text is taken exactly (keys may contain spaces); numbers and
//    booleans are trimmed first. ETags are returned without their quotes.
//  - With <EncodingType>url</EncodingType> keys, prefixes and markers are
//    URL-decoded ('+' is a space), as S3 encodes them that way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "s3bd/s3/errors.h"

namespace s3bd::s3 {

inline constexpr std::size_t kMaxXmlSize = 16u << 20;   // bytes
inline constexpr std::size_t kMaxDeleteKeys = 1000;     // S3's limit per DeleteObjects

struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;           // without quotes; may be empty
  std::string last_modified;  // as sent (ISO 8601); may be empty
};

struct ListObjectsResult {
  std::string bucket;
  std::string prefix;
  std::vector<ListedObject> objects;
  std::vector<std::string> common_prefixes;
  bool is_truncated = false;
  // V2
  std::string continuation_token;
  std::string next_continuation_token;  // non-empty whenever a V2 listing is truncated
  std::string start_after;
  std::optional<std::uint64_t> key_count;
  // V1
  std::string marker;
  std::string next_marker;  // as sent; often absent without a delimiter

  // For V1: the marker of the next page, i.e. NextMarker, or failing that
  // the greatest of the last key and the last common prefix.
  std::string NextV1Marker() const;
};

std::error_code ParseListObjectsV2(std::string_view xml, ListObjectsResult* out,
                                   std::string* detail = nullptr);
std::error_code ParseListObjectsV1(std::string_view xml, ListObjectsResult* out,
                                   std::string* detail = nullptr);

struct S3ErrorInfo {
  std::string code;  // always non-empty after a successful parse
  std::string message;
  std::string request_id;
  std::string host_id;
  std::string bucket_name;
  std::string key;
  std::string resource;
};

// <Error><Code>..</Code>...</Error> (also accepted inside <ErrorResponse>).
std::error_code ParseErrorDocument(std::string_view xml, S3ErrorInfo* out,
                                   std::string* detail = nullptr);

struct DeleteFailure {
  std::string key;
  std::string code;
  std::string message;
};

struct DeleteObjectsResult {
  std::vector<std::string> deleted;  // empty in quiet mode
  std::vector<DeleteFailure> errors;
};

std::error_code ParseDeleteObjectsResult(std::string_view xml, DeleteObjectsResult* out,
                                         std::string* detail = nullptr);

// The body of a DeleteObjects request:
// <Delete xmlns=...><Quiet>true</Quiet><Object><Key>k</Key></Object>...</Delete>
// with keys XML-escaped (CR, LF and TAB as character references so they
// survive XML line-end normalisation). kInvalidRequest for 0 or more than
// kMaxDeleteKeys keys, an empty key, invalid UTF-8, or a character XML 1.0
// cannot carry. The caller must send it with a Content-MD5 header
// (Md5Base64(body)), which S3 requires for this request.
std::error_code BuildDeleteObjectsRequest(std::span<const std::string> keys, bool quiet,
                                          std::string* body, std::string* detail = nullptr);

}  // namespace s3bd::s3
