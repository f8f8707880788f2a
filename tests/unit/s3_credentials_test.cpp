// Tests of the credential sources and region resolution
// (src/s3/credentials.cpp), with files in a private temporary directory and
// a fake environment. Also checks that no secret ever appears in an error
// detail or in Describe().
#include "s3bd/s3/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace s3bd::s3 {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/s3bd-creds-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_["HOME"] = dir_.string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path Write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    EXPECT_EQ(::chmod(p.c_str(), mode), 0);
    return p;
  }

  GetEnvFn Env() {
    return [this](const std::string& name) -> std::optional<std::string> {
      const auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }

  fs::path dir_;
  std::map<std::string, std::string> env_;
};

// ----- (a) s3backer-style file --------------------------------------------------

TEST_F(CredentialsTest, FileFirstEntry) {
  const fs::path p = Write("passwd", std::string("# comment\n\nAKIAFIRST:") + kSecret + "\nAKIASECOND:other\n");
  Credentials c;
  std::string detail;
  ASSERT_FALSE(LoadCredentialsFile(p, "", &c, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "AKIAFIRST");
  EXPECT_EQ(c.secret_access_key, kSecret);
  EXPECT_TRUE(c.session_token.empty());
  EXPECT_NE(c.source.find(p.string()), std::string::npos);
}

TEST_F(CredentialsTest, FileSelectsRequestedKeyAndHandlesCrlf) {
  const fs::path p = Write("passwd", "AKIAFIRST:one\r\n  AKIASECOND : two:with:colons  \r\n");
  Credentials c;
  ASSERT_FALSE(LoadCredentialsFile(p, "AKIASECOND", &c));
  EXPECT_EQ(c.access_key_id, "AKIASECOND");
  EXPECT_EQ(c.secret_access_key, "two:with:colons");
  std::string detail;
  EXPECT_EQ(LoadCredentialsFile(p, "AKIAMISSING", &c, &detail), Errc::kNoSuchAccessKey);
  EXPECT_NE(detail.find("AKIAMISSING"), std::string::npos);
}

TEST_F(CredentialsTest, FileRefusedIfGroupOrWorldAccessible) {
  for (mode_t mode : {0640, 0604, 0644, 0660, 0610, 0601}) {
    const fs::path p = Write("passwd", std::string("AKIA:") + kSecret + "\n", mode);
    Credentials c;
    std::string detail;
    EXPECT_EQ(LoadCredentialsFile(p, "", &c, &detail), Errc::kCredentialsInsecure) << std::oct << mode;
    EXPECT_NE(detail.find("chmod 600"), std::string::npos) << detail;
    EXPECT_EQ(detail.find(kSecret), std::string::npos);
    EXPECT_TRUE(c.empty());
  }
  const fs::path p = Write("passwd", "AKIA:secret\n", 0400);
  Credentials c;
  EXPECT_FALSE(LoadCredentialsFile(p, "", &c));
}

TEST_F(CredentialsTest, FileErrorsNeverQuoteTheLine) {
  const fs::path p = Write("passwd", std::string("# ok\n") + kSecret + "\n");  // no colon
  Credentials c;
  std::string detail;
  EXPECT_EQ(LoadCredentialsFile(p, "", &c, &detail), Errc::kCredentialsMalformed);
  EXPECT_NE(detail.find("line 2"), std::string::npos) << detail;
  EXPECT_EQ(detail.find(kSecret), std::string::npos) << detail;
  for (const char* bad : {"AKIA:\n", ":secret\n"}) {
    const fs::path q = Write("passwd2", bad);
    EXPECT_EQ(LoadCredentialsFile(q, "", &c, &detail), Errc::kCredentialsMalformed) << bad;
    EXPECT_EQ(detail.find("secret"), std::string::npos) << detail;
  }
}

TEST_F(CredentialsTest, FileMissingEmptyOrNotRegular) {
  Credentials c;
  std::string detail;
  EXPECT_EQ(LoadCredentialsFile(dir_ / "nope", "", &c, &detail), std::errc::no_such_file_or_directory);
  EXPECT_NE(detail.find("nope"), std::string::npos);
  const fs::path empty = Write("empty", "# nothing\n\n");
  EXPECT_EQ(LoadCredentialsFile(empty, "", &c), Errc::kCredentialsNotFound);
  EXPECT_EQ(LoadCredentialsFile(dir_, "", &c), std::errc::invalid_argument);
}

// ----- (b) environment ----------------------------------------------------------

TEST_F(CredentialsTest, Environment) {
  Credentials c;
  std::string detail;
  EXPECT_EQ(CredentialsFromEnvironment(Env(), &c, &detail), Errc::kCredentialsNotFound);
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  EXPECT_EQ(CredentialsFromEnvironment(Env(), &c, &detail), Errc::kCredentialsIncomplete);
  env_["AWS_SECRET_ACCESS_KEY"] = kSecret;
  env_["AWS_SESSION_TOKEN"] = "TOKEN";
  ASSERT_FALSE(CredentialsFromEnvironment(Env(), &c, &detail));
  EXPECT_EQ(c.access_key_id, "AKIAENV");
  EXPECT_EQ(c.secret_access_key, kSecret);
  EXPECT_EQ(c.session_token, "TOKEN");
  EXPECT_EQ(c.source, "environment");
  env_.erase("AWS_ACCESS_KEY_ID");
  EXPECT_EQ(CredentialsFromEnvironment(Env(), &c, &detail), Errc::kCredentialsIncomplete);
  EXPECT_EQ(detail.find(kSecret), std::string::npos);
}

// ----- INI parsing ---------------------------------------------------------------

TEST(S3Ini, ParsesSectionsKeysAndNestedSettings) {
  IniFile ini;
  std::string detail;
  ASSERT_FALSE(ParseIni("# comment\n; other comment\n[default]\nRegion = eu-west-1 \n"
                        "[profile   dev]\naws_access_key_id=AKIADEV\ns3 =\n  addressing_style = path\n"
                        "  max_concurrent_requests = 4\nafter = x\n  indented_plain = y\n",
                        &ini, &detail))
      << detail;
  EXPECT_EQ(ini["default"]["region"], "eu-west-1");
  EXPECT_EQ(ini["profile dev"]["aws_access_key_id"], "AKIADEV");
  EXPECT_EQ(ini["profile dev"]["s3.addressing_style"], "path");
  EXPECT_EQ(ini["profile dev"]["s3.max_concurrent_requests"], "4");
  EXPECT_EQ(ini["profile dev"]["after"], "x");
  EXPECT_EQ(ini["profile dev"]["indented_plain"], "y");
}

TEST(S3Ini, Errors) {
  IniFile ini;
  std::string detail;
  EXPECT_EQ(ParseIni("key = value\n", &ini, &detail), Errc::kCredentialsMalformed);
  EXPECT_NE(detail.find("line 1"), std::string::npos);
  EXPECT_EQ(ParseIni("[ok]\n[broken\n", &ini, &detail), Errc::kCredentialsMalformed);
  EXPECT_NE(detail.find("line 2"), std::string::npos);
  EXPECT_EQ(ParseIni("[ok]\naws_secret_access_key\n", &ini, &detail), Errc::kCredentialsMalformed);
  EXPECT_EQ(ParseIni("[]\n", &ini, &detail), Errc::kCredentialsMalformed);
  EXPECT_FALSE(ParseIni("", &ini, &detail));
  EXPECT_TRUE(ini.empty());
}

// ----- (c) shared files ------------------------------------------------------------

TEST_F(CredentialsTest, SharedFilePathsAndProfileName) {
  EXPECT_EQ(SharedCredentialsPath(Env()), (dir_ / ".aws/credentials").string());
  EXPECT_EQ(SharedConfigPath(Env()), (dir_ / ".aws/config").string());
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "/x/creds";
  env_["AWS_CONFIG_FILE"] = "/x/config";
  EXPECT_EQ(SharedCredentialsPath(Env()), "/x/creds");
  EXPECT_EQ(SharedConfigPath(Env()), "/x/config");
  EXPECT_EQ(ProfileName(Env()), "default");
  env_["AWS_PROFILE"] = "dev";
  EXPECT_EQ(ProfileName(Env()), "dev");
  EXPECT_EQ(ProfileName(Env(), "explicit"), "explicit");
  env_.erase("HOME");
  env_.erase("AWS_CONFIG_FILE");
  EXPECT_EQ(SharedConfigPath(Env()), "");
}

TEST_F(CredentialsTest, ProfileFromSharedCredentialsFile) {
  Write(".aws/credentials", std::string("[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = ") +
                                kSecret + "\n[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=devsecret\n"
                                          "aws_session_token=devtoken\n",
        0644);  // shared files are not permission-checked (the AWS tools do not either)
  Credentials c;
  std::string detail;
  ASSERT_FALSE(CredentialsFromProfile(Env(), "", &c, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "AKIADEFAULT");
  EXPECT_EQ(c.secret_access_key, kSecret);
  env_["AWS_PROFILE"] = "dev";
  ASSERT_FALSE(CredentialsFromProfile(Env(), "", &c, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "AKIADEV");
  EXPECT_EQ(c.session_token, "devtoken");
  EXPECT_NE(c.source.find("'dev'"), std::string::npos);
  EXPECT_EQ(CredentialsFromProfile(Env(), "nosuch", &c, &detail), Errc::kNoSuchProfile);
  EXPECT_NE(detail.find("nosuch"), std::string::npos);
}

TEST_F(CredentialsTest, ProfileKeysFromConfigFile) {
  env_["AWS_CONFIG_FILE"] = Write("cfg", "[profile ci]\naws_access_key_id = AKIACI\naws_secret_access_key = cisecret\n"
                                         "region = ap-south-1\n")
                                .string();
  Credentials c;
  std::string detail;
  ASSERT_FALSE(CredentialsFromProfile(Env(), "ci", &c, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "AKIACI");
  // The default profile is absent: not found (not an error), so a chain goes on.
  EXPECT_EQ(CredentialsFromProfile(Env(), "", &c, &detail), Errc::kCredentialsNotFound);
}

TEST_F(CredentialsTest, ProfileWithoutStaticKeysOrIncomplete) {
  Write(".aws/config", "[profile sso]\nsso_start_url = https://example.invalid\n");
  Write(".aws/credentials", "[half]\naws_access_key_id = AKIAHALF\n");
  Credentials c;
  std::string detail;
  EXPECT_EQ(CredentialsFromProfile(Env(), "sso", &c, &detail), Errc::kCredentialsNotFound);
  EXPECT_NE(detail.find("not supported"), std::string::npos) << detail;
  EXPECT_EQ(CredentialsFromProfile(Env(), "half", &c, &detail), Errc::kCredentialsIncomplete);
}

TEST_F(CredentialsTest, BrokenSharedFileIsAnError) {
  Write(".aws/credentials", std::string("[default]\n") + kSecret + "\n");
  Credentials c;
  std::string detail;
  EXPECT_EQ(CredentialsFromProfile(Env(), "", &c, &detail), Errc::kCredentialsMalformed);
  EXPECT_NE(detail.find("line 2"), std::string::npos) << detail;
  EXPECT_EQ(detail.find(kSecret), std::string::npos) << detail;
}

// ----- (d) the chain ----------------------------------------------------------------

TEST_F(CredentialsTest, ChainOrder) {
  CredentialChainOptions opts;
  opts.getenv = Env();
  Credentials c;
  std::string detail;
  // Nothing anywhere.
  EXPECT_EQ(ResolveCredentials(opts, &c, &detail), Errc::kCredentialsNotFound);
  EXPECT_NE(detail.find("AWS_ACCESS_KEY_ID"), std::string::npos) << detail;

  // Profile only.
  Write(".aws/credentials", "[default]\naws_access_key_id=AKIAPROFILE\naws_secret_access_key=p\n");
  ASSERT_FALSE(ResolveCredentials(opts, &c, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "AKIAPROFILE");

  // The environment wins over the profile.
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "e";
  ASSERT_FALSE(ResolveCredentials(opts, &c, &detail));
  EXPECT_EQ(c.access_key_id, "AKIAENV");

  // An explicitly chosen profile outranks the environment.
  Write(".aws/config", "[profile other]\naws_access_key_id=AKIAOTHER\naws_secret_access_key=o\n");
  opts.profile = "other";
  ASSERT_FALSE(ResolveCredentials(opts, &c, &detail)) << detail;
  EXPECT_EQ(c.access_key_id, "AKIAOTHER");
  opts.profile.clear();
  // ... but AWS_PROFILE does not.
  env_["AWS_PROFILE"] = "other";
  ASSERT_FALSE(ResolveCredentials(opts, &c, &detail));
  EXPECT_EQ(c.access_key_id, "AKIAENV");

  // An explicit file wins over everything, and is the only source then.
  opts.credentials_file = Write("passwd", "AKIAFILE:f\n");
  ASSERT_FALSE(ResolveCredentials(opts, &c, &detail));
  EXPECT_EQ(c.access_key_id, "AKIAFILE");
  opts.credentials_file = (dir_ / "missing").string();
  EXPECT_EQ(ResolveCredentials(opts, &c, &detail), std::errc::no_such_file_or_directory);
}

TEST_F(CredentialsTest, ChainStopsAtABrokenSource) {
  CredentialChainOptions opts;
  opts.getenv = Env();
  Write(".aws/credentials", "[default]\naws_access_key_id=AKIAPROFILE\naws_secret_access_key=p\n");
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";  // secret missing
  Credentials c;
  std::string detail;
  EXPECT_EQ(ResolveCredentials(opts, &c, &detail), Errc::kCredentialsIncomplete);
  env_.erase("AWS_ACCESS_KEY_ID");
  opts.profile = "typo";
  EXPECT_EQ(ResolveCredentials(opts, &c, &detail), Errc::kNoSuchProfile);
}

TEST_F(CredentialsTest, ChainInstanceMetadataHook) {
  CredentialChainOptions opts;
  opts.getenv = Env();
  int calls = 0;
  opts.instance_metadata = [&](Credentials* out, std::string*) {
    ++calls;
    out->access_key_id = "ASIAIMDS";
    out->secret_access_key = "imds";
    out->session_token = "imdstoken";
    out->source = "EC2 instance metadata";
    return std::error_code();
  };
  Credentials c;
  ASSERT_FALSE(ResolveCredentials(opts, &c));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c.access_key_id, "ASIAIMDS");
  // Not consulted when an earlier source has credentials.
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "e";
  ASSERT_FALSE(ResolveCredentials(opts, &c));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c.access_key_id, "AKIAENV");
  // A hook that finds nothing leaves "not found".
  env_.clear();
  env_["HOME"] = dir_.string();
  opts.instance_metadata = [](Credentials*, std::string* why) {
    *why = "no instance role";
    return make_error_code(Errc::kCredentialsNotFound);
  };
  std::string detail;
  EXPECT_EQ(ResolveCredentials(opts, &c, &detail), Errc::kCredentialsNotFound);
  EXPECT_NE(detail.find("no instance role"), std::string::npos) << detail;
}

// ----- region -------------------------------------------------------------------------

TEST_F(CredentialsTest, RegionResolution) {
  EXPECT_EQ(ResolveRegion("", Env()), "us-east-1");
  Write(".aws/config", "[default]\nregion = eu-central-1\n[profile dev]\nregion = ap-northeast-1\n");
  EXPECT_EQ(ResolveRegion("", Env()), "eu-central-1");
  EXPECT_EQ(ResolveRegion("", Env(), "dev"), "ap-northeast-1");
  env_["AWS_PROFILE"] = "dev";
  EXPECT_EQ(ResolveRegion("", Env()), "ap-northeast-1");
  env_["AWS_DEFAULT_REGION"] = "us-west-1";
  EXPECT_EQ(ResolveRegion("", Env()), "us-west-1");
  env_["AWS_REGION"] = "us-west-2";
  EXPECT_EQ(ResolveRegion("", Env()), "us-west-2");
  EXPECT_EQ(ResolveRegion("sa-east-1", Env()), "sa-east-1");
  env_.erase("AWS_REGION");
  env_.erase("AWS_DEFAULT_REGION");
  env_["AWS_PROFILE"] = "unknown";
  EXPECT_EQ(ResolveRegion("", Env()), "us-east-1");
}

// ----- never print the secret -------------------------------------------------------------

TEST(S3CredentialsDescribe, NeverShowsSecrets) {
  Credentials c;
  c.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  c.secret_access_key = kSecret;
  c.session_token = "SESSION-TOKEN-VALUE";
  c.source = "environment";
  const std::string d = c.Describe();
  EXPECT_NE(d.find("AKIAIOSFODNN7EXAMPLE"), std::string::npos);
  EXPECT_NE(d.find("environment"), std::string::npos);
  EXPECT_EQ(d.find(kSecret), std::string::npos);
  EXPECT_EQ(d.find("SESSION-TOKEN-VALUE"), std::string::npos);
  std::ostringstream os;
  os << c;
  EXPECT_EQ(os.str(), d);
  EXPECT_EQ(::testing::PrintToString(c), d);
}

}  // namespace
}  // namespace s3bd::s3
