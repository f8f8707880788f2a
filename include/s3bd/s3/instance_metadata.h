// Credentials from the EC2 instance metadata service (IMDSv2), the last
// source of the credential chain (credentials.h), over HTTP.
//
// Flow: PUT /latest/api/token (header X-aws-ec2-metadata-token-ttl-seconds)
// gives a session token; GET /latest/meta-data/iam/security-credentials/
// with that token names the instance's role; GET .../ROLE returns JSON with
// AccessKeyId, SecretAccessKey, Token and Expiration. The S3 client's
// CredentialProvider calls Fetch() again before Expiration.
//
// Endpoint: http://169.254.169.254, or AWS_EC2_METADATA_SERVICE_ENDPOINT
// (used by the tests to point at a local fake); AWS_EC2_METADATA_DISABLED=true
// turns the source off. Timeouts are short (1 s to connect, 2 s per
// request, no retries), so a machine without the service skips it quickly.
//
// Contract: no exceptions; "no service / no role" is kCredentialsNotFound (the
// chain then reports that no credentials were found); a service that answers
// with nonsense is kBadResponse. Details never contain the secret or token.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "s3bd/s3/credentials.h"
#include "s3bd/s3/http_client.h"

namespace s3bd::s3 {

inline constexpr const char* kDefaultImdsEndpoint = "http://169.254.169.254";

struct InstanceMetadataOptions {
  std::string endpoint = kDefaultImdsEndpoint;  // scheme://host[:port]
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{2000};
};

// The options from the environment, or nullopt if AWS_EC2_METADATA_DISABLED
// is "true".
std::optional<InstanceMetadataOptions> InstanceMetadataFromEnvironment(const GetEnvFn& getenv);

class InstanceMetadataClient {
 public:
  explicit InstanceMetadataClient(InstanceMetadataOptions options);
  // Thread-safe.
  std::error_code Fetch(Credentials* out, std::optional<std::chrono::system_clock::time_point>* expiration,
                        std::string* detail);

 private:
  InstanceMetadataOptions options_;
  HttpClient http_;
};

// "2026-11-21T23:09:36Z" -> time point; nullopt if malformed.
std::optional<std::chrono::system_clock::time_point> ParseIso8601Utc(const std::string& text);

}  // namespace s3bd::s3
