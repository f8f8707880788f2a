// request_ctx.h - per-request state shared by server.cpp (HTTP plumbing,
// fault pipeline, control endpoints) and handlers.cpp (S3 operations).
// Internal to the test S3 server.
#pragma once

#include <httplib.h>

#include <string>

#include "counters.h"
#include "faults.h"

namespace s3server {

// Header under which the pre-routing handler hides a request's
// Content-Encoding, so that cpp-httplib does not decompress gzip/deflate/br
// request bodies (S3 stores them as sent).
inline constexpr const char *kHiddenContentEncoding = "X-S3Server-Content-Encoding";

struct RequestCtx {
  RequestCtx(const httplib::Request &rq, httplib::Response &rs,
             const httplib::ContentReader *rd)
      : req(rq), res(rs), reader(rd) {}

  const httplib::Request &req;
  httplib::Response &res;
  const httplib::ContentReader *reader;  // PUT/POST only

  std::string bucket;
  std::string key;
  bool has_key = false;
  std::string request_id;
  Kind kind = Kind::Other;
  Op op = Op::Any;
  Decision d;

  bool head() const { return req.method == "HEAD"; }

  bool body_consumed = false;  // request body read or drained
  bool killed = false;         // connection reset: nothing more to send
  bool reset_handled = false;  // the reset fault was applied (mid-body)
};

}  // namespace s3server
