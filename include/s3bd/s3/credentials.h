// Where S3 credentials and the region come from.
//
// Sources, each its own function and testable without a network:
//  (a) an s3backer-style credentials file: lines "ACCESS_KEY_ID:SECRET",
//      blank lines and '#' comments skipped; refused if group- or
//      world-accessible (mode & 077);
//  (b) the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//      optionally AWS_SESSION_TOKEN;
//  (c) the AWS shared files: ~/.aws/credentials and ~/.aws/config (or
//      AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE), profile from the
//      argument, else AWS_PROFILE, else "default";
//  (d) ResolveCredentials(): the chain (a) if a file was given, else (b),
//      then (c), then an optional hook (the future EC2 instance metadata
//      source, which needs HTTP). A profile chosen explicitly in the options
//      skips (b), as the AWS CLI's --profile does; AWS_PROFILE does not.
// The environment is read through a GetEnvFn so tests can supply their own.
//
// Contract: no exceptions; errors are std::error_code (s3bd::s3::Errc, or
// generic errno codes for I/O) plus an optional detail string. No message,
// detail string or Describe() ever contains a secret access key or session
// token. A source that simply has nothing returns kCredentialsNotFound; a
// source that is configured but broken returns another error, and the chain
// stops there rather than silently using other credentials.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

#include "s3bd/s3/errors.h"

namespace s3bd::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
  std::string source;         // where they came from, for messages

  bool empty() const { return access_key_id.empty() && secret_access_key.empty(); }
  // "access key AKIA... from <source>" (+ ", with session token"); never the secret.
  std::string Describe() const;
};

// Streams Describe(), so that logging or a test failure message cannot print
// the secret by accident.
std::ostream& operator<<(std::ostream& os, const Credentials& c);

// Returns the variable's value, or nullopt if unset.
using GetEnvFn = std::function<std::optional<std::string>(const std::string& name)>;
// The real process environment.
GetEnvFn ProcessEnvironment();

// (a) s3backer format. With an empty `access_key_id` the first entry is used;
// otherwise the entry with that id (kNoSuchAccessKey if none).
std::error_code LoadCredentialsFile(const std::string& path, const std::string& access_key_id,
                                    Credentials* out, std::string* detail = nullptr);

// (b) AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Neither
// set: kCredentialsNotFound; only one of the two: kCredentialsIncomplete.
std::error_code CredentialsFromEnvironment(const GetEnvFn& getenv, Credentials* out,
                                           std::string* detail = nullptr);

// A parsed INI file: section name -> key -> value. Keys are lowercased and
// values trimmed. Indented lines after a key with an empty value (the AWS
// config's nested settings, e.g. "s3 =\n  addressing_style = path") are
// stored as "parent.key".
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
std::error_code ParseIni(std::string_view text, IniFile* out, std::string* detail = nullptr);

// Paths of the AWS shared files, honouring AWS_SHARED_CREDENTIALS_FILE,
// AWS_CONFIG_FILE and HOME. Empty if neither the variable nor HOME is set.
std::string SharedCredentialsPath(const GetEnvFn& getenv);
std::string SharedConfigPath(const GetEnvFn& getenv);
// The profile to use: `requested` if non-empty, else AWS_PROFILE, else "default".
std::string ProfileName(const GetEnvFn& getenv, const std::string& requested = {});

// (c) Keys of the profile from the shared credentials file ([NAME]), or
// failing that from the config file ([profile NAME], or [default]).
// kNoSuchProfile if a profile other than "default" was asked for and exists
// in neither file; kCredentialsNotFound if the default profile is absent.
std::error_code CredentialsFromProfile(const GetEnvFn& getenv, const std::string& profile,
                                       Credentials* out, std::string* detail = nullptr);

// A further source tried last, e.g. EC2 instance metadata (needs HTTP, so it
// is plugged in by the S3 store). Same error conventions as the others.
using CredentialsHook = std::function<std::error_code(Credentials* out, std::string* detail)>;

struct CredentialChainOptions {
  std::string credentials_file;  // s3backer-style file; if set, the only source
  std::string access_key_id;     // select an entry of credentials_file
  std::string profile;           // shared-files profile (empty: AWS_PROFILE / "default");
                                 // if set, the environment's keys are not used
  GetEnvFn getenv;               // null: the process environment
  CredentialsHook instance_metadata;  // optional, tried last
};

// (d) The chain described at the top of this file.
std::error_code ResolveCredentials(const CredentialChainOptions& options, Credentials* out,
                                   std::string* detail = nullptr);

// The region: `explicit_region`, else AWS_REGION, else AWS_DEFAULT_REGION,
// else the profile's "region" in the config file, else "us-east-1".
std::string ResolveRegion(const std::string& explicit_region, const GetEnvFn& getenv,
                          const std::string& profile = {});

}  // namespace s3bd::s3
