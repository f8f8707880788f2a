// s3xml.h - S3 XML documents of the s3bd test S3 server: error documents,
// ListObjects (V1 and V2), ListBuckets, DeleteObjects request parsing (with
// pugixml) and its DeleteResult, CopyObjectResult and LocationConstraint.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store.h"

namespace s3server {

struct ErrorInfo {
  std::string code;
  std::string message;
  std::string resource;    // request path
  std::string request_id;
  std::string bucket;      // optional <BucketName>
  std::string key;         // optional <Key>
};
std::string error_xml(const ErrorInfo &e);

struct ListV2Info {
  std::string bucket, prefix, delimiter, continuation_token, start_after,
      next_continuation_token;
  size_t max_keys = 1000;
  bool url_encoding = false;  // encoding-type=url
  bool fetch_owner = false;
};
std::string list_v2_xml(const ListV2Info &info, const ListResult &r);

struct ListV1Info {
  std::string bucket, prefix, delimiter, marker, next_marker;
  size_t max_keys = 1000;
  bool url_encoding = false;
};
std::string list_v1_xml(const ListV1Info &info, const ListResult &r);

std::string list_buckets_xml(const std::vector<std::pair<std::string, int64_t>> &buckets);
std::string location_xml(const std::string &region);
std::string copy_result_xml(const std::string &etag, int64_t mtime_ms);

struct DeleteRequest {
  bool quiet = false;
  std::vector<std::string> keys;
};
// Parses a DeleteObjects body; returns nullopt (and *err) when malformed.
std::optional<DeleteRequest> parse_delete_xml(const std::string &body, std::string *err);

struct DeleteOutcome {
  std::string key;
  std::string error_code;  // empty when deleted
  std::string error_message;
};
std::string delete_result_xml(const std::vector<DeleteOutcome> &outcomes, bool quiet);

}  // namespace s3server
