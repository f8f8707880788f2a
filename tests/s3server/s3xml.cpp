// s3xml.cpp - building and parsing the S3 XML documents (s3xml.h).
#include "s3xml.h"

#include <pugixml.hpp>

#include "util.h"

namespace s3server {

namespace {

const char kHeader[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const char kNs[] = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

void elem(std::string &out, const char *name, const std::string &value) {
  out += '<';
  out += name;
  out += '>';
  out += xml_escape(value);
  out += "</";
  out += name;
  out += '>';
}

std::string key_text(const std::string &key, bool url) {
  return url ? url_encode(key, true) : key;
}

void contents(std::string &out, const ListResult &r, bool url, bool owner) {
  for (auto &[key, obj] : r.contents) {
    out += "<Contents>";
    elem(out, "Key", key_text(key, url));
    elem(out, "LastModified", iso8601(obj->mtime_ms));
    elem(out, "ETag", "\"" + obj->etag + "\"");
    elem(out, "Size", std::to_string(obj->size()));
    if (owner)
      out += "<Owner><ID>s3bd-test</ID><DisplayName>s3bd-test</DisplayName></Owner>";
    out += "<StorageClass>STANDARD</StorageClass></Contents>";
  }
  for (auto &cp : r.common_prefixes) {
    out += "<CommonPrefixes>";
    elem(out, "Prefix", key_text(cp, url));
    out += "</CommonPrefixes>";
  }
}

}  // namespace

std::string error_xml(const ErrorInfo &e) {
  std::string out = kHeader;
  out += "<Error>";
  elem(out, "Code", e.code);
  elem(out, "Message", e.message);
  if (!e.bucket.empty()) elem(out, "BucketName", e.bucket);
  if (!e.key.empty()) elem(out, "Key", e.key);
  if (!e.resource.empty()) elem(out, "Resource", e.resource);
  elem(out, "RequestId", e.request_id);
  elem(out, "HostId", "s3bd-test-s3server");
  out += "</Error>";
  return out;
}

std::string list_v2_xml(const ListV2Info &info, const ListResult &r) {
  std::string out = kHeader;
  out.reserve(256 + r.contents.size() * 220);
  out += "<ListBucketResult";
  out += kNs;
  out += '>';
  elem(out, "Name", info.bucket);
  elem(out, "Prefix", key_text(info.prefix, info.url_encoding));
  if (!info.delimiter.empty())
    elem(out, "Delimiter", key_text(info.delimiter, info.url_encoding));
  elem(out, "MaxKeys", std::to_string(info.max_keys));
  elem(out, "KeyCount", std::to_string(r.contents.size() + r.common_prefixes.size()));
  elem(out, "IsTruncated", r.truncated ? "true" : "false");
  if (info.url_encoding) elem(out, "EncodingType", "url");
  if (!info.continuation_token.empty())
    elem(out, "ContinuationToken", info.continuation_token);
  if (!info.next_continuation_token.empty())
    elem(out, "NextContinuationToken", info.next_continuation_token);
  if (!info.start_after.empty())
    elem(out, "StartAfter", key_text(info.start_after, info.url_encoding));
  contents(out, r, info.url_encoding, info.fetch_owner);
  out += "</ListBucketResult>";
  return out;
}

std::string list_v1_xml(const ListV1Info &info, const ListResult &r) {
  std::string out = kHeader;
  out.reserve(256 + r.contents.size() * 300);
  out += "<ListBucketResult";
  out += kNs;
  out += '>';
  elem(out, "Name", info.bucket);
  elem(out, "Prefix", key_text(info.prefix, info.url_encoding));
  elem(out, "Marker", key_text(info.marker, info.url_encoding));
  if (!info.next_marker.empty())
    elem(out, "NextMarker", key_text(info.next_marker, info.url_encoding));
  elem(out, "MaxKeys", std::to_string(info.max_keys));
  if (!info.delimiter.empty())
    elem(out, "Delimiter", key_text(info.delimiter, info.url_encoding));
  elem(out, "IsTruncated", r.truncated ? "true" : "false");
  if (info.url_encoding) elem(out, "EncodingType", "url");
  contents(out, r, info.url_encoding, true);
  out += "</ListBucketResult>";
  return out;
}

std::string list_buckets_xml(const std::vector<std::pair<std::string, int64_t>> &buckets) {
  std::string out = kHeader;
  out += "<ListAllMyBucketsResult";
  out += kNs;
  out += "><Owner><ID>s3bd-test</ID><DisplayName>s3bd-test</DisplayName></Owner><Buckets>";
  for (auto &[name, created] : buckets) {
    out += "<Bucket>";
    elem(out, "Name", name);
    elem(out, "CreationDate", iso8601(created));
    out += "</Bucket>";
  }
  out += "</Buckets></ListAllMyBucketsResult>";
  return out;
}

std::string location_xml(const std::string &region) {
  std::string out = kHeader;
  out += "<LocationConstraint";
  out += kNs;
  out += '>';
  if (region != "us-east-1") out += xml_escape(region);
  out += "</LocationConstraint>";
  return out;
}

std::string copy_result_xml(const std::string &etag, int64_t mtime_ms) {
  std::string out = kHeader;
  out += "<CopyObjectResult";
  out += kNs;
  out += '>';
  elem(out, "LastModified", iso8601(mtime_ms));
  elem(out, "ETag", "\"" + etag + "\"");
  out += "</CopyObjectResult>";
  return out;
}

std::optional<DeleteRequest> parse_delete_xml(const std::string &body, std::string *err) {
  pugi::xml_document doc;
  pugi::xml_parse_result res = doc.load_buffer(body.data(), body.size(),
                                                 pugi::parse_default & ~pugi::parse_eol);
  if (!res) {
    if (err) *err = std::string("XML parse error: ") + res.description();
    return std::nullopt;
  }
  pugi::xml_node root = doc.document_element();
  if (std::string(root.name()) != "Delete") {
    if (err) *err = "root element is not <Delete>";
    return std::nullopt;
  }
  DeleteRequest req;
  for (pugi::xml_node n : root.children()) {
    std::string name = n.name();
    if (name == "Quiet") {
      std::string v = to_lower(trim(n.child_value()));
      req.quiet = v == "true";
    } else if (name == "Object") {
      pugi::xml_node k = n.child("Key");
      if (!k) {
        if (err) *err = "<Object> without <Key>";
        return std::nullopt;
      }
      req.keys.emplace_back(k.child_value());
    }
  }
  if (req.keys.empty()) {
    if (err) *err = "no <Object> elements";
    return std::nullopt;
  }
  return req;
}

std::string delete_result_xml(const std::vector<DeleteOutcome> &outcomes, bool quiet) {
  std::string out = kHeader;
  out += "<DeleteResult";
  out += kNs;
  out += '>';
  for (auto &o : outcomes) {
    if (o.error_code.empty()) {
      if (quiet) continue;
      out += "<Deleted>";
      elem(out, "Key", o.key);
      out += "</Deleted>";
    } else {
      out += "<Error>";
      elem(out, "Key", o.key);
      elem(out, "Code", o.error_code);
      elem(out, "Message", o.error_message);
      out += "</Error>";
    }
  }
  out += "</DeleteResult>";
  return out;
}

}  // namespace s3server
