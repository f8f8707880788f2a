// IMDSv2 credentials. See the header for the flow and the contract.
#include "s3bd/s3/instance_metadata.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace s3bd::s3 {

namespace {

constexpr const char* kCredentialsPath = "/latest/meta-data/iam/security-credentials/";

}  // namespace

std::optional<InstanceMetadataOptions> InstanceMetadataFromEnvironment(const GetEnvFn& getenv_in) {
  const GetEnvFn getenv = getenv_in ? getenv_in : ProcessEnvironment();
  if (auto disabled = getenv("AWS_EC2_METADATA_DISABLED")) {
    std::string v = *disabled;
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "true") return std::nullopt;
  }
  InstanceMetadataOptions options;
  if (auto endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); endpoint && !endpoint->empty()) {
    options.endpoint = *endpoint;
    while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  }
  return options;
}

std::optional<std::chrono::system_clock::time_point> ParseIso8601Utc(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(text).substr(static_cast<std::size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {  // fractional seconds
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  if (rest != "Z" && rest != "+00:00") return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const time_t t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

InstanceMetadataClient::InstanceMetadataClient(InstanceMetadataOptions options)
    : options_(std::move(options)), http_([&] {
        HttpClientOptions h;
        h.connect_timeout = options_.connect_timeout;
        h.request_timeout = options_.request_timeout;
        h.max_parallel = 2;
        return h;
      }()) {}

std::error_code InstanceMetadataClient::Fetch(Credentials* out,
                                              std::optional<std::chrono::system_clock::time_point>* expiration,
                                              std::string* detail) {
  auto set = [&](std::string why) {
    if (detail) *detail = std::move(why);
  };
  HttpRequest req;
  HttpResponse resp;
  req.method = "PUT";
  req.url = options_.endpoint + "/latest/api/token";
  req.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  req.max_response = 4096;
  http_.Perform(req, &resp);
  if (resp.transport != TransportError::kNone) {
    set(fmt::format("no instance metadata service at {} ({})", options_.endpoint, resp.transport_detail));
    return Errc::kCredentialsNotFound;
  }
  if (resp.status != 200 || resp.body.empty()) {
    set(fmt::format("instance metadata service at {} refused a token (HTTP {})", options_.endpoint, resp.status));
    return Errc::kCredentialsNotFound;
  }
  const std::string token = resp.body;

  req = HttpRequest{};
  req.url = options_.endpoint + kCredentialsPath;
  req.headers = {{"X-aws-ec2-metadata-token", token}};
  req.max_response = 4096;
  http_.Perform(req, &resp);
  if (resp.transport != TransportError::kNone || resp.status != 200) {
    set(fmt::format("instance metadata at {}: no IAM role ({})", options_.endpoint,
                    resp.transport != TransportError::kNone ? resp.transport_detail
                                                            : fmt::format("HTTP {}", resp.status)));
    return Errc::kCredentialsNotFound;
  }
  std::string role = resp.body.substr(0, resp.body.find('\n'));
  while (!role.empty() && (role.back() == '\r' || role.back() == ' ')) role.pop_back();
  if (role.empty() || role.find('/') != std::string::npos) {
    set(fmt::format("instance metadata at {}: no IAM role", options_.endpoint));
    return Errc::kCredentialsNotFound;
  }

  req.url = options_.endpoint + kCredentialsPath + UriEncode(role, false);
  req.max_response = 64 * 1024;
  http_.Perform(req, &resp);
  if (resp.transport != TransportError::kNone || resp.status != 200) {
    set(fmt::format("instance metadata at {}: cannot fetch the credentials of role {} ({})", options_.endpoint,
                    role,
                    resp.transport != TransportError::kNone ? resp.transport_detail
                                                            : fmt::format("HTTP {}", resp.status)));
    return Errc::kCredentialsNotFound;
  }
  const nlohmann::json doc = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  auto field = [&](const char* name) -> std::string {
    if (!doc.is_object()) return {};
    auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string code = field("Code");
  Credentials c;
  c.access_key_id = field("AccessKeyId");
  c.secret_access_key = field("SecretAccessKey");
  c.session_token = field("Token");
  c.source = fmt::format("instance metadata (role {})", role);
  if (doc.is_discarded() || (!code.empty() && code != "Success") || c.access_key_id.empty() ||
      c.secret_access_key.empty()) {
    set(fmt::format("instance metadata at {}: unusable credentials document for role {}", options_.endpoint, role));
    return Errc::kBadResponse;
  }
  *expiration = std::nullopt;
  if (const std::string exp = field("Expiration"); !exp.empty()) {
    *expiration = ParseIso8601Utc(exp);
    if (!*expiration) {
      set(fmt::format("instance metadata at {}: bad Expiration for role {}", options_.endpoint, role));
      return Errc::kBadResponse;
    }
  }
  *out = std::move(c);
  return {};
}

}  // namespace s3bd::s3
