// util.h - small helpers shared by the s3bd test S3 server: digests (MD5,
// SHA-256 via OpenSSL libcrypto), base64, URL and XML/JSON escaping, HTTP and
// ISO-8601 date formatting, and socket helpers used for fault injection
// (finding the accepted socket of a request, forcing a TCP reset).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace s3server {

// Lowercase hex MD5 / SHA-256 of `data`.
std::string md5_hex(std::string_view data);
std::string sha256_hex(std::string_view data);
// Lowercase hex of raw bytes.
std::string hex_encode(std::string_view raw);
// Raw 16-byte MD5 digest.
std::string md5_raw(std::string_view data);

// Incremental MD5 (hashing a body while it arrives keeps it in cache).
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5 &) = delete;
  Md5 &operator=(const Md5 &) = delete;
  void update(const char *data, size_t len);
  std::string final_raw();  // 16 raw bytes

 private:
  void *ctx_;
};

std::string base64_encode(std::string_view data);
// Returns nullopt on malformed input (whitespace is not accepted).
std::optional<std::string> base64_decode(std::string_view text);

// RFC 3986 percent-encoding; '/' is kept when keep_slash is true.
std::string url_encode(std::string_view s, bool keep_slash = false);
// Percent-decoding; '+' stays '+' unless plus_is_space.
std::string url_decode(std::string_view s, bool plus_is_space = false);

// Escapes text for XML element content and attribute values. Characters not
// allowed in XML 1.0 are written as numeric references, as S3 does.
std::string xml_escape(std::string_view s);
// Escapes a string for a JSON string literal (without the quotes).
std::string json_escape(std::string_view s);

// Milliseconds since the Unix epoch (wall clock).
int64_t now_unix_ms();
// "Wed, 12 Oct 2009 17:50:00 GMT"
std::string http_date(int64_t unix_ms);
// "2009-10-12T17:50:30.000Z"
std::string iso8601(int64_t unix_ms);
// Parses an RFC 1123 HTTP date; nullopt when malformed.
std::optional<int64_t> parse_http_date(const std::string &s);

// True when an If-Match / If-None-Match header value (a comma-separated
// list of possibly quoted or weak ETags, or "*") matches etag_hex.
bool etag_list_matches(std::string_view header, const std::string &etag_hex);

std::string to_lower(std::string_view s);
std::string trim(std::string_view s);

// Parses a byte count with an optional k/m/g suffix (powers of 1024).
std::optional<uint64_t> parse_size(std::string_view s);

// Finds the file descriptor of the accepted TCP connection whose peer is
// remote_addr:remote_port and whose local port is local_port. Returns -1 when
// not found. Used to reset connections, which cpp-httplib does not expose.
int find_connection_fd(const std::string &remote_addr, int remote_port,
                       int local_port);
// Makes the kernel send a TCP RST on `fd` right away (SO_LINGER 0 and an
// AF_UNSPEC connect); later writes on it fail. wait_ms > 0 first waits up to
// that long for already-written bytes to leave the send queue.
void reset_connection(int fd, int wait_ms);
// Half-closes every accepted connection on local port `local_port` (used on
// shutdown so idle keep-alive workers exit promptly).
void shutdown_connections(int local_port);

}  // namespace s3server
