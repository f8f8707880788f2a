// Credential sources and region resolution; see include/s3bd/s3/credentials.h.
//
// Care point: file contents may hold secrets, so no message built here ever
// quotes a line of a file; errors name the file and the line number only.
#include "s3bd/s3/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "s3bd/core/unique_fd.h"

namespace s3bd::s3 {

namespace {

constexpr std::size_t kMaxFileSize = 1 << 20;  // no credentials file is this big

void SetDetail(std::string* detail, std::string text) {
  if (detail != nullptr) *detail = std::move(text);
}

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
                                            c == '\f' || c == '\v'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits into lines on '\n' (a trailing '\r' is left for Trim()).
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// Reads a whole (small, regular) file. With `private_only`, refuses files
// that group or others may access. ENOENT is returned as is so callers can
// tell "absent" from "broken".
std::error_code ReadSmallFile(const std::string& path, bool private_only, std::string* out,
                              std::string* detail) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const std::error_code ec(errno, std::generic_category());
    SetDetail(detail, path + ": " + ec.message());
    return ec;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const std::error_code ec(errno, std::generic_category());
    SetDetail(detail, path + ": " + ec.message());
    return ec;
  }
  if (!S_ISREG(st.st_mode)) {
    SetDetail(detail, path + ": not a regular file");
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (private_only && (st.st_mode & 077) != 0) {
    SetDetail(detail, path + ": credentials file must not be accessible by group or others "
                             "(run: chmod 600 " + path + ")");
    return Errc::kCredentialsInsecure;
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxFileSize) {
    SetDetail(detail, path + ": file too large for a credentials file");
    return Errc::kCredentialsMalformed;
  }
  std::string data;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::error_code ec(errno, std::generic_category());
      SetDetail(detail, path + ": " + ec.message());
      return ec;
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxFileSize) {
      SetDetail(detail, path + ": file too large for a credentials file");
      return Errc::kCredentialsMalformed;
    }
  }
  *out = std::move(data);
  return {};
}

bool IsNotFound(std::error_code ec) {
  return ec == std::errc::no_such_file_or_directory;
}

// Reads and parses an INI file; an absent file gives an empty IniFile.
std::error_code LoadIni(const std::string& path, IniFile* ini, bool* exists, std::string* detail) {
  ini->clear();
  *exists = false;
  if (path.empty()) return {};
  std::string text;
  if (auto ec = ReadSmallFile(path, /*private_only=*/false, &text, detail)) {
    if (IsNotFound(ec)) return {};
    return ec;
  }
  *exists = true;
  std::string why;
  if (auto ec = ParseIni(text, ini, &why)) {
    SetDetail(detail, path + ": " + why);
    return ec;
  }
  return {};
}

const std::map<std::string, std::string>* FindSection(const IniFile& ini, const std::string& name) {
  const auto it = ini.find(name);
  return it == ini.end() ? nullptr : &it->second;
}

std::string Get(const std::map<std::string, std::string>& section, const std::string& key) {
  const auto it = section.find(key);
  return it == section.end() ? std::string() : it->second;
}

// The config-file section of a profile: "[profile NAME]", and for the default
// profile also "[default]".
const std::map<std::string, std::string>* ConfigSection(const IniFile& config,
                                                        const std::string& profile) {
  if (const auto* s = FindSection(config, "profile " + profile)) return s;
  if (profile == "default") return FindSection(config, "default");
  return nullptr;
}

}  // namespace

std::string Credentials::Describe() const {
  std::string out = "access key " + (access_key_id.empty() ? std::string("(none)") : access_key_id);
  if (!source.empty()) out += " from " + source;
  if (!session_token.empty()) out += ", with session token";
  return out;
}

std::ostream& operator<<(std::ostream& os, const Credentials& c) { return os << c.Describe(); }

GetEnvFn ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::error_code LoadCredentialsFile(const std::string& path, const std::string& access_key_id,
                                    Credentials* out, std::string* detail) {
  std::string text;
  if (auto ec = ReadSmallFile(path, /*private_only=*/true, &text, detail)) {
    // An explicitly named file that is missing is an error, not "try the next source".
    return ec;
  }
  const auto lines = Lines(text);
  bool any_entry = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = Trim(lines[i]);
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == line.size()) {
      SetDetail(detail, path + ": line " + std::to_string(i + 1) +
                            ": expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
      return Errc::kCredentialsMalformed;
    }
    any_entry = true;
    const std::string id(Trim(line.substr(0, colon)));
    if (!access_key_id.empty() && id != access_key_id) continue;
    Credentials c;
    c.access_key_id = id;
    c.secret_access_key = std::string(Trim(line.substr(colon + 1)));
    c.source = "credentials file " + path;
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      SetDetail(detail, path + ": line " + std::to_string(i + 1) +
                            ": expected ACCESS_KEY_ID:SECRET_ACCESS_KEY");
      return Errc::kCredentialsMalformed;
    }
    *out = std::move(c);
    return {};
  }
  if (!access_key_id.empty() && any_entry) {
    SetDetail(detail, path + ": no entry for access key " + access_key_id);
    return Errc::kNoSuchAccessKey;
  }
  SetDetail(detail, path + ": no credentials in file");
  return Errc::kCredentialsNotFound;
}

std::error_code CredentialsFromEnvironment(const GetEnvFn& getenv, Credentials* out,
                                           std::string* detail) {
  const auto get = [&](const char* name) {
    auto v = getenv(name);
    return v ? std::string(Trim(*v)) : std::string();
  };
  Credentials c;
  c.access_key_id = get("AWS_ACCESS_KEY_ID");
  c.secret_access_key = get("AWS_SECRET_ACCESS_KEY");
  c.session_token = get("AWS_SESSION_TOKEN");
  c.source = "environment";
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    SetDetail(detail, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
    return Errc::kCredentialsNotFound;
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    SetDetail(detail, c.access_key_id.empty() ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                                              : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    return Errc::kCredentialsIncomplete;
  }
  *out = std::move(c);
  return {};
}

std::error_code ParseIni(std::string_view text, IniFile* out, std::string* detail) {
  IniFile ini;
  std::string section;
  bool have_section = false;
  std::string parent;  // key with an empty value that indented lines may nest under
  const auto lines = Lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view raw = lines[i];
    const std::string_view line = Trim(raw);
    const std::string where = "line " + std::to_string(i + 1);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3) {
        SetDetail(detail, where + ": malformed section header");
        return Errc::kCredentialsMalformed;
      }
      // Collapse "profile   name" to "profile name".
      const std::string_view name = Trim(line.substr(1, line.size() - 2));
      section.clear();
      bool space = false;
      for (char c : name) {
        if (c == ' ' || c == '\t') {
          space = true;
          continue;
        }
        if (space && !section.empty()) section.push_back(' ');
        space = false;
        section.push_back(c);
      }
      if (section.empty()) {
        SetDetail(detail, where + ": empty section name");
        return Errc::kCredentialsMalformed;
      }
      have_section = true;
      ini[section];
      parent.clear();
      continue;
    }
    const auto pos = line.find_first_of("=:");
    if (pos == std::string_view::npos || pos == 0) {
      SetDetail(detail, where + ": expected 'key = value'");
      return Errc::kCredentialsMalformed;
    }
    if (!have_section) {
      SetDetail(detail, where + ": setting outside of any [section]");
      return Errc::kCredentialsMalformed;
    }
    std::string key = Lower(Trim(line.substr(0, pos)));
    const std::string value(Trim(line.substr(pos + 1)));
    if (indented && !parent.empty()) {
      key = parent + "." + key;
    } else {
      parent = value.empty() ? key : std::string();
    }
    ini[section][key] = value;
  }
  *out = std::move(ini);
  return {};
}

std::string SharedCredentialsPath(const GetEnvFn& getenv) {
  if (auto v = getenv("AWS_SHARED_CREDENTIALS_FILE"); v && !v->empty()) return *v;
  if (auto home = getenv("HOME"); home && !home->empty()) return *home + "/.aws/credentials";
  return {};
}

std::string SharedConfigPath(const GetEnvFn& getenv) {
  if (auto v = getenv("AWS_CONFIG_FILE"); v && !v->empty()) return *v;
  if (auto home = getenv("HOME"); home && !home->empty()) return *home + "/.aws/config";
  return {};
}

std::string ProfileName(const GetEnvFn& getenv, const std::string& requested) {
  if (!requested.empty()) return requested;
  if (auto v = getenv("AWS_PROFILE"); v && !v->empty()) return *v;
  return "default";
}

std::error_code CredentialsFromProfile(const GetEnvFn& getenv, const std::string& requested,
                                       Credentials* out, std::string* detail) {
  const std::string profile = ProfileName(getenv, requested);
  const std::string cred_path = SharedCredentialsPath(getenv);
  const std::string config_path = SharedConfigPath(getenv);

  IniFile creds, config;
  bool creds_exist = false, config_exist = false;
  if (auto ec = LoadIni(cred_path, &creds, &creds_exist, detail)) return ec;
  if (auto ec = LoadIni(config_path, &config, &config_exist, detail)) return ec;

  const auto* section = FindSection(creds, profile);
  std::string path = cred_path;
  // A profile whose keys are in the config file instead (the AWS CLI allows it).
  const auto* config_section = ConfigSection(config, profile);
  if ((section == nullptr || Get(*section, "aws_access_key_id").empty()) && config_section != nullptr &&
      !Get(*config_section, "aws_access_key_id").empty()) {
    section = config_section;
    path = config_path;
  }
  if (section == nullptr && config_section == nullptr) {
    if (profile == "default" && requested.empty()) {
      SetDetail(detail, "no [default] profile in " +
                            (cred_path.empty() ? std::string("(no shared credentials file)") : cred_path));
      return Errc::kCredentialsNotFound;
    }
    SetDetail(detail, "profile '" + profile + "' not found in " +
                          (cred_path.empty() ? std::string("(no credentials file)") : cred_path) +
                          " or " + (config_path.empty() ? std::string("(no config file)") : config_path));
    return Errc::kNoSuchProfile;
  }
  if (section == nullptr) section = config_section;

  Credentials c;
  c.access_key_id = Get(*section, "aws_access_key_id");
  c.secret_access_key = Get(*section, "aws_secret_access_key");
  c.session_token = Get(*section, "aws_session_token");
  c.source = "profile '" + profile + "' in " + path;
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    SetDetail(detail, "profile '" + profile +
                          "' has no aws_access_key_id / aws_secret_access_key (role, SSO and "
                          "process profiles are not supported)");
    return Errc::kCredentialsNotFound;
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    SetDetail(detail, "profile '" + profile + "' in " + path + " lacks " +
                          (c.access_key_id.empty() ? "aws_access_key_id" : "aws_secret_access_key"));
    return Errc::kCredentialsIncomplete;
  }
  *out = std::move(c);
  return {};
}

std::error_code ResolveCredentials(const CredentialChainOptions& options, Credentials* out,
                                   std::string* detail) {
  const GetEnvFn getenv = options.getenv ? options.getenv : ProcessEnvironment();
  if (!options.credentials_file.empty()) {
    return LoadCredentialsFile(options.credentials_file, options.access_key_id, out, detail);
  }
  std::string tried;
  std::string why;
  // An explicitly chosen profile outranks the environment (as with the AWS
  // CLI's --profile); AWS_PROFILE does not.
  if (options.profile.empty()) {
    if (auto ec = CredentialsFromEnvironment(getenv, out, &why); ec != Errc::kCredentialsNotFound) {
      if (ec) SetDetail(detail, why);
      return ec;
    }
    tried = why + "; ";
    why.clear();
  }
  if (auto ec = CredentialsFromProfile(getenv, options.profile, out, &why);
      ec != Errc::kCredentialsNotFound) {
    if (ec) SetDetail(detail, why);
    return ec;
  }
  tried += why;
  if (options.instance_metadata) {
    why.clear();
    auto ec = options.instance_metadata(out, &why);
    if (ec == Errc::kCredentialsNotFound) {
      tried += "; " + (why.empty() ? std::string("no instance metadata credentials") : why);
    } else {
      if (ec) SetDetail(detail, why);
      return ec;
    }
  }
  SetDetail(detail, "no credentials found: " + tried);
  return Errc::kCredentialsNotFound;
}

std::string ResolveRegion(const std::string& explicit_region, const GetEnvFn& getenv_in,
                          const std::string& profile) {
  if (!explicit_region.empty()) return explicit_region;
  const GetEnvFn getenv = getenv_in ? getenv_in : ProcessEnvironment();
  if (auto v = getenv("AWS_REGION"); v && !Trim(*v).empty()) return std::string(Trim(*v));
  if (auto v = getenv("AWS_DEFAULT_REGION"); v && !Trim(*v).empty()) return std::string(Trim(*v));
  IniFile config;
  bool exists = false;
  if (!LoadIni(SharedConfigPath(getenv), &config, &exists, nullptr)) {
    if (const auto* s = ConfigSection(config, ProfileName(getenv, profile))) {
      const std::string region = Get(*s, "region");
      if (!region.empty()) return region;
    }
  }
  return "us-east-1";
}

}  // namespace s3bd::s3
