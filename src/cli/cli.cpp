// Command-line parsing with CLI11. Option names, defaults and help texts live
// here only; man/s3bd.8 documents the same set (tests/mount/cli_docs_test.sh
// checks that they agree).
#include "s3bd/cli/cli.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "s3bd/cli/cache_options.h"
#include "s3bd/cli/config_file.h"
#include "s3bd/cli/nbd_command.h"
#include "s3bd/core/errors.h"
#include "s3bd/cli/mount_helper_args.h"
#include "s3bd/cli/s3backer_options.h"
#include "s3bd/core/geometry.h"
#include "s3bd/core/stack.h"
#include "s3bd/nbd/nbd_listener.h"
#include "s3bd/cli/logging.h"

namespace s3bd {

namespace {

// STORE and the options that say how to reach it: shared by `mount` and
// the commands that open a store (`info`, `verify`, `erase`).
struct StoreArgs {
  std::string store;
  // S3 (s3:// stores only)
  std::string endpoint, region, auth_version, credentials_file, access_key_id, profile, ca_file;
  std::string timeout, max_retry_time, connections, storage_class, sse, sse_kms_key_id, acl;
  std::string max_upload_speed, max_download_speed;
  bool path_style = false, virtual_host = false, anonymous = false, insecure = false;
  bool hash_prefix = false, list_blocks = false, hard = false;
};

// What every command that serves a volume takes (`mount`, `nbd`): the
// store, the volume's geometry, the daemon's, the codec's, the cache's.
struct ServeArgs : StoreArgs {
  std::string size, block_size, log_level = "info";
  std::string compress, passphrase_file;  // --compress[=ALG[:LEVEL]], --passphrase-file
  bool compress_given = false, encrypt = false;
  std::string log_file, metrics_listen;
  std::string config;  // --config FILE (config_file.h)
  bool force = false, read_only = false, foreground = false;
  CacheArgs cache;  // block cache and consistency guard
};

struct MountArgs : ServeArgs {
  std::string mountpoint, file_mode = "0600";
  std::string file_name = "file", stats_name = "stats";
  std::vector<std::string> fuse_options;
};

struct NbdArgs : ServeArgs {
  std::string socket, listen, export_name, stats_json;
  bool allow_remote = false;
};

// `mount_only`: also the options that matter only to a mount (how objects
// are written, retries while mounted, the block map).
void AddS3Options(CLI::App* mount, StoreArgs& a, bool mount_only = true) {
  const char* g = "S3 options (s3://BUCKET[/PREFIX] stores)";
  mount->add_option("--endpoint", a.endpoint,
                    "S3 endpoint URL, http:// or https://HOST[:PORT] (default: AWS's endpoint for the region)")
      ->group(g);
  mount->add_option("--region", a.region,
                    "Region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1)")
      ->group(g);
  mount->add_flag("--path-style", a.path_style,
                  "Path-style requests (http://HOST/BUCKET/KEY); the default with --endpoint")
      ->group(g);
  mount->add_flag("--virtual-host", a.virtual_host,
                  "Virtual-hosted requests (http://BUCKET.HOST/KEY); the default for AWS")
      ->group(g);
  mount->add_option("--auth-version", a.auth_version, "Request signing: 4 (SigV4, default) or 2 (SigV2, old servers)")
      ->group(g);
  mount->add_flag("--anonymous", a.anonymous, "Send unsigned requests (public buckets; needs --read-only)")->group(g);
  mount->add_option("--credentials-file", a.credentials_file,
                    "File of ACCESS_KEY_ID:SECRET lines (s3backer format, must not be group/world readable); "
                    "the only credentials source when given")
      ->group(g);
  mount->add_option("--access-key-id", a.access_key_id,
                    "Use the entry of --credentials-file with this access key id (default: the first)")
      ->group(g);
  mount->add_option("--profile", a.profile,
                    "Profile of ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, else default)")
      ->group(g);
  mount->add_flag("--insecure", a.insecure, "Do not verify TLS certificates")->group(g);
  mount->add_option("--ca-file", a.ca_file, "CA certificates (PEM) to verify the endpoint with")->group(g);
  mount->add_option("--timeout", a.timeout, "Seconds one HTTP request may take (default: 30)")->group(g);
  mount->add_option("--max-retry-time", a.max_retry_time,
                    "Seconds to keep retrying a failing request before giving up (default: 60)")
      ->group(g);
  if (mount_only) mount->add_flag("--hard", a.hard,
                  "Once mounted, I/O waits through an outage of the server until it answers, instead of "
                  "failing with EIO after --max-retry-time (as NFS hard mounts)")
      ->group(g);
  mount->add_option("--connections", a.connections, "Parallel HTTP requests, 1 to 256 (default: 64)")->group(g);
  mount->add_option("--max-upload-speed", a.max_upload_speed,
                    "Upload at most this many bytes per second (K/M/G suffixes, binary), over all connections "
                    "(default: no limit)")
      ->group(g);
  mount->add_option("--max-download-speed", a.max_download_speed,
                    "Download at most this many bytes per second (K/M/G suffixes), over all connections; reads "
                    "you wait for go before read-ahead (default: no limit)")
      ->group(g);
  if (mount_only) {
    mount->add_option("--storage-class", a.storage_class,
                      "Storage class of new objects, e.g. STANDARD_IA (default: the bucket's)")
        ->group(g);
    mount->add_option("--sse", a.sse, "Server-side encryption of new objects: AES256 or aws:kms")->group(g);
    mount->add_option("--sse-kms-key-id", a.sse_kms_key_id,
                      "KMS key for --sse aws:kms (default: the AWS managed key)")
        ->group(g);
    mount->add_option("--acl", a.acl, "Canned ACL of new objects, e.g. public-read (default: private)")->group(g);
  }
  mount->add_flag("--hash-prefix", a.hash_prefix,
                  "Object names start with a hash of the block number (s3backer's blockHashPrefix option); "
                  "must be the same at every mount")
      ->group(g);
  if (mount_only) mount->add_flag("--list-blocks", a.list_blocks,
                  "Wait for the block map's survey of the bucket before the mount goes live (it "
                  "otherwise runs in the background)")
      ->group(g);
}

constexpr const char* kStoreHelp = "The store: a directory path, file:///absolute/path or s3://BUCKET[/PREFIX]";

// The options of `mount` and `nbd` that are not about the front end;
// `mountpoint` (mount only) comes right after STORE.
void AddServeOptions(CLI::App* cmd, ServeArgs& a, std::string* mountpoint, std::function<void()> front_end_options) {
  AddCacheOptions(*cmd, a.cache);
  // Required, but possibly from --config: checked by ApplyConfigAndRequire.
  cmd->add_option("STORE", a.store, kStoreHelp);
  if (mountpoint) cmd->add_option("MOUNTPOINT", *mountpoint, "An existing directory to mount on");
  cmd->add_option("--size", a.size,
                  "Volume size, with optional K/M/G/T/P suffix (binary); needed to create a volume");
  cmd->add_option("--block-size", a.block_size,
                  "Block size, a power of two from 4K to 64M (default 1M); fixed at creation");
  cmd->add_flag("--force", a.force,
                "Allow --size to resize an existing volume (shrinking only if no data is lost)");
  front_end_options();
  cmd->add_flag("--read-only", a.read_only, mountpoint ? "Mount read-only" : "Serve the volume read-only");
  cmd->add_flag("-f,--foreground", a.foreground, "Stay in the foreground and log to stderr");
}

void AddServeLogAndCodecOptions(CLI::App* cmd, ServeArgs& a) {
  cmd->add_option("--log-level", a.log_level,
                  "trace, debug, info, warn, error, critical or off (default: info)");
  cmd->add_option("--log-file", a.log_file,
                  "Once detached, append the log to this file (created with mode 0600) instead of syslog");
  cmd->add_option("--metrics-listen", a.metrics_listen,
                  "Serve the stats as Prometheus metrics at http://[HOST:]PORT/metrics (HOST default "
                  "127.0.0.1: other addresses only when named)");
  const char* g = "Compression and encryption";
  cmd->add_option("--compress", a.compress,
                  "Store new blocks compressed when that makes them smaller: zstd (default, level 3), "
                  "zstd:LEVEL (1-19), deflate (level 6) or deflate:LEVEL (1-9); any mount may turn it on or off")
      ->expected(0, 1)
      ->group(g);
  cmd->add_flag("--encrypt", a.encrypt,
                "Create the volume encrypted (AES-256-GCM, key from a passphrase); later mounts know it")
      ->group(g);
  cmd->add_option("--passphrase-file", a.passphrase_file,
                  "Read the passphrase of an encrypted volume from this file (mode 0600 or stricter); "
                  "default: the file named by S3BD_PASSPHRASE_FILE, else a prompt")
      ->group(g);
  AddS3Options(cmd, a);
}

void AddMountCommand(CLI::App& app, MountArgs& a) {
  CLI::App* mount = app.add_subcommand("mount", "Mount a volume: expose its disk file in MOUNTPOINT");
  AddServeOptions(mount, a, &a.mountpoint, [&] {
    mount->add_option("--file-name", a.file_name, "Name of the disk file (default: file)");
    mount->add_option("--stats-file", a.stats_name, "Name of the stats file (default: stats)");
    mount->add_option("--file-mode", a.file_mode, "Permission bits of the disk file, octal (default: 0600)");
  });
  mount->add_option("-o", a.fuse_options, "FUSE mount options, e.g. -o allow_other (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)  // -o X STORE: STORE is not a second value
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddServeLogAndCodecOptions(mount, a);
  AddConfigFileOption(*mount, a.config);
}

void AddNbdCommand(CLI::App& app, NbdArgs& a) {
  CLI::App* nbd = app.add_subcommand("nbd", "Serve a volume over NBD (Network Block Device) on a Unix socket or TCP");
  AddServeOptions(nbd, a, nullptr, [&] {
    const char* g = "NBD options";
    nbd->add_option("--socket", a.socket, "Listen on this Unix socket (created mode 0600, removed at exit)")
        ->group(g);
    nbd->add_option("--listen", a.listen,
                    "Listen on TCP HOST:PORT ([IPV6]:PORT); a loopback address unless --allow-remote")
        ->group(g);
    nbd->add_flag("--allow-remote", a.allow_remote,
                  "Allow --listen on an address other machines reach (NBD has no authentication here, and no TLS)")
        ->group(g);
    nbd->add_option("--export-name", a.export_name,
                    "The name clients ask for (default: \"\"; the name \"\" is always accepted too)")
        ->group(g);
    nbd->add_option("--stats-json", a.stats_json,
                    "Keep the stats as JSON in this file: rewritten every second while serving and at exit")
        ->group(g);
  });
  AddServeLogAndCodecOptions(nbd, a);
  AddConfigFileOption(*nbd, a.config);
}

bool ValidName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.size() < 256;
}

// A whole number in [lo, hi] for `option`; throws UsageError.
unsigned ParseUnsigned(const std::string& text, const char* option, unsigned lo, unsigned hi) {
  std::size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || text[0] == '-' || v < lo || v > hi) {
    throw UsageError(fmt::format("invalid {} '{}': expected a whole number from {} to {}", option, text, lo, hi));
  }
  return static_cast<unsigned>(v);
}

bool IsOneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (v == a) return true;
  }
  return false;
}

// The S3 options; throws UsageError. With a non-S3 store none may be given.
void ConvertS3(const StoreArgs& a, bool read_only, StoreConfig& store) {
  S3Config& s3 = store.s3;
  const bool any = !a.endpoint.empty() || !a.region.empty() || !a.auth_version.empty() ||
                   !a.credentials_file.empty() || !a.access_key_id.empty() || !a.profile.empty() ||
                   !a.ca_file.empty() || !a.timeout.empty() || !a.max_retry_time.empty() ||
                   !a.connections.empty() || !a.storage_class.empty() || !a.sse.empty() ||
                   !a.sse_kms_key_id.empty() || !a.acl.empty() || !a.max_upload_speed.empty() ||
                   !a.max_download_speed.empty() || a.path_style || a.virtual_host ||
                   a.anonymous || a.insecure || a.hash_prefix || a.list_blocks || a.hard;
  store.is_s3 = a.store.rfind("s3://", 0) == 0;
  if (!store.is_s3) {
    if (any) throw UsageError("S3 options such as --endpoint apply only to s3:// stores");
    return;
  }
  if (!a.endpoint.empty()) {
    std::string e = a.endpoint;
    while (!e.empty() && e.back() == '/') e.pop_back();
    const auto scheme_end = e.find("://");
    const std::string scheme = scheme_end == std::string::npos ? "" : e.substr(0, scheme_end);
    const std::string host = scheme_end == std::string::npos ? "" : e.substr(scheme_end + 3);
    const bool host_ok = !host.empty() && host.find_first_of("/?#@ \t\r\n") == std::string::npos;
    if ((scheme != "http" && scheme != "https") || !host_ok) {
      throw UsageError(fmt::format("invalid --endpoint '{}': expected http://HOST[:PORT] or https://HOST[:PORT]",
                                     a.endpoint));
    }
    s3.endpoint = e;
  }
  if (!a.region.empty()) {
    const bool ok = a.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
    if (!ok || a.region.size() > 64) throw UsageError(fmt::format("invalid --region '{}'", a.region));
    s3.region = a.region;
  }
  if (a.path_style && a.virtual_host) throw UsageError("--path-style and --virtual-host exclude each other");
  if (a.path_style) s3.addressing = S3Config::Addressing::kPath;
  if (a.virtual_host) s3.addressing = S3Config::Addressing::kVirtualHost;
  if (!a.auth_version.empty()) {
    if (a.auth_version != "2" && a.auth_version != "4") {
      throw UsageError(fmt::format("invalid --auth-version '{}': expected 2 or 4", a.auth_version));
    }
    s3.auth_version = a.auth_version == "2" ? 2 : 4;
  }
  if (!a.max_upload_speed.empty()) s3.max_upload_speed = ParseSize(a.max_upload_speed, "--max-upload-speed");
  if (!a.max_download_speed.empty()) {
    s3.max_download_speed = ParseSize(a.max_download_speed, "--max-download-speed");
  }
  if (read_only && !a.max_upload_speed.empty()) {
    throw UsageError("--max-upload-speed applies to uploads; a read-only mount makes none");
  }
  s3.anonymous = a.anonymous;
  if (a.anonymous) {
    if (!a.credentials_file.empty() || !a.profile.empty() || !a.access_key_id.empty() || !a.auth_version.empty()) {
      throw UsageError("--anonymous excludes --credentials-file, --access-key-id, --profile and --auth-version");
    }
    if (!read_only) throw UsageError("--anonymous needs --read-only (unsigned requests cannot write)");
  }
  if (!a.access_key_id.empty() && a.credentials_file.empty()) {
    throw UsageError("--access-key-id selects an entry of --credentials-file, which is missing");
  }
  if (!a.credentials_file.empty() && !a.profile.empty()) {
    throw UsageError("--credentials-file and --profile exclude each other");
  }
  s3.credentials_file = a.credentials_file;
  s3.access_key_id = a.access_key_id;
  s3.profile = a.profile;
  s3.insecure = a.insecure;
  s3.ca_file = a.ca_file;
  if (!a.timeout.empty()) s3.timeout_s = ParseUnsigned(a.timeout, "--timeout", 1, 3600);
  if (!a.max_retry_time.empty()) s3.max_retry_time_s = ParseUnsigned(a.max_retry_time, "--max-retry-time", 0, 86400);
  if (!a.connections.empty()) s3.connections = ParseUnsigned(a.connections, "--connections", 1, 256);
  if (!a.storage_class.empty()) {
    if (a.storage_class.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != std::string::npos) {
      throw UsageError(fmt::format("invalid --storage-class '{}': expected e.g. STANDARD or STANDARD_IA",
                                     a.storage_class));
    }
    s3.storage_class = a.storage_class;
  }
  if (!a.sse.empty() && !IsOneOf(a.sse, {"AES256", "aws:kms"})) {
    throw UsageError(fmt::format("invalid --sse '{}': expected AES256 or aws:kms", a.sse));
  }
  s3.sse = a.sse;
  if (!a.sse_kms_key_id.empty() && a.sse != "aws:kms") throw UsageError("--sse-kms-key-id needs --sse aws:kms");
  if (a.sse_kms_key_id.find_first_of(" \t\r\n") != std::string::npos) {
    throw UsageError("invalid --sse-kms-key-id");
  }
  s3.sse_kms_key_id = a.sse_kms_key_id;
  if (!a.acl.empty()) {
    if (!IsOneOf(a.acl, {"private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                         "bucket-owner-read", "bucket-owner-full-control"})) {
      throw UsageError(fmt::format(
          "invalid --acl '{}': expected private, public-read, public-read-write, authenticated-read, "
          "aws-exec-read, bucket-owner-read or bucket-owner-full-control",
          a.acl));
    }
    s3.acl = a.acl;
  }
  s3.hash_prefix = a.hash_prefix;
  s3.list_blocks = a.list_blocks;
  s3.hard = a.hard;
}

// An absolute path for one the daemon uses after it changed to /.
std::string Absolute(const std::string& path) {
  char cwd[PATH_MAX];
  if (path.empty() || path[0] == '/' || !::getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

// The ServeArgs into the store's config; throws UsageError. A malformed
// STORE is bad usage like any malformed value, so it is resolved here.
void ConvertServe(const ServeArgs& a, StoreConfig& store) {
  store.url = a.store;
  ResolveStoreUrl(store);
  if (!a.size.empty()) store.size = ParseSize(a.size, "--size");
  if (!a.block_size.empty()) store.block_size = ParseSize(a.block_size, "--block-size");
  store.force = a.force;
  store.read_only = a.read_only;
  ConvertS3(a, a.read_only, store);
  ConvertCacheOptions(a.cache, store.cache, store.guard);
  if (a.compress_given) {
    std::string why;
    auto spec = codec::ParseCompression(a.compress, &why);
    if (!spec) throw UsageError(fmt::format("invalid --compress '{}': {}", a.compress, why));
    store.codec.compression = *spec;
  }
  store.codec.encrypt = a.encrypt;
  store.codec.passphrase_file = a.passphrase_file;
  if (a.read_only && a.encrypt) throw UsageError("--encrypt creates a volume; a read-only mount cannot");
  if (a.read_only && a.compress_given) throw UsageError("--compress applies to writes; a read-only mount makes none");
  if (!a.log_file.empty() && a.foreground) {
    throw UsageError("--log-file applies only without --foreground (which logs to stderr)");
  }
}

// Turns the raw strings into configs; throws UsageError.
void Convert(const MountArgs& a, StoreConfig& store, MountConfig& mount) {
  ConvertServe(a, store);
  mount.mountpoint = a.mountpoint;
  if (!ValidName(a.file_name)) throw UsageError("invalid --file-name '" + a.file_name + "'");
  if (!ValidName(a.stats_name)) throw UsageError("invalid --stats-file '" + a.stats_name + "'");
  if (a.file_name == a.stats_name) throw UsageError("--file-name and --stats-file must differ");
  mount.file_name = a.file_name;
  mount.stats_name = a.stats_name;
  std::size_t used = 0;
  unsigned long mode = 0;
  try {
    mode = std::stoul(a.file_mode, &used, 8);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != a.file_mode.size() || mode > 07777) {
    throw UsageError("invalid --file-mode '" + a.file_mode + "': expected octal like 0600");
  }
  mount.file_mode = static_cast<mode_t>(mode);
  mount.fuse_options = a.fuse_options;
}

void Convert(const NbdArgs& a, StoreConfig& store, NbdConfig& nbd) {
  ConvertServe(a, store);
  if (!a.socket.empty() && !a.listen.empty()) throw UsageError("--socket and --listen exclude each other");
  if (a.socket.empty() && a.listen.empty()) throw UsageError("s3bd nbd needs --socket PATH or --listen HOST:PORT");
  if (!a.socket.empty()) {
    if (a.allow_remote) throw UsageError("--allow-remote applies only to --listen");
    nbd.address.unix_socket = true;
    nbd.address.path = Absolute(a.socket);
  } else {
    std::string why;
    if (!nbd::ParseHostPort(a.listen, &nbd.address, &why)) {
      throw UsageError(fmt::format("invalid --listen '{}': {}", a.listen, why));
    }
    bool resolved = false;
    if (!nbd::IsLoopbackHost(nbd.address.host, &why, &resolved)) {
      if (!resolved) throw UsageError(fmt::format("--listen {}: {}", a.listen, why));
      if (!a.allow_remote) {
        throw UsageError(fmt::format("--listen {}: {}; add --allow-remote to serve the volume to the network "
                                     "(no authentication, no TLS)",
                                     a.listen, why));
      }
    }
  }
  if (a.export_name.size() > 4096 || a.export_name.find('\0') != std::string::npos) {
    throw UsageError("invalid --export-name: at most 4096 bytes");
  }
  nbd.export_name = a.export_name;
  nbd.stats_json = Absolute(a.stats_json);
}

// The daemon's own settings, common to `mount` and `nbd`.
DaemonConfig ConvertDaemon(const ServeArgs& a) {
  DaemonConfig d;
  d.foreground = a.foreground;
  d.log_level = a.log_level;
  d.log_file = Absolute(a.log_file);  // the daemon changes to / when it detaches
  if (!a.metrics_listen.empty()) d.metrics = ParseMetricsAddress(a.metrics_listen);
  return d;
}

// STORE and its S3 options for a command that only reads the store.
void ConvertStore(const StoreArgs& a, StoreConfig& store) {
  store.url = a.store;
  ResolveStoreUrl(store);
  store.read_only = true;
  ConvertS3(a, /*read_only=*/true, store);
}

// --config FILE, then the arguments that may come from it; throws UsageError.
void ApplyConfigAndRequire(CLI::App& cmd, ServeArgs& a, const std::string* mountpoint) {
  PositionalKeys keys = {{"STORE", "store"}};
  if (mountpoint) keys.emplace_back("MOUNTPOINT", "mountpoint");
  if (!a.config.empty()) ApplyConfigFile(cmd, a.config, keys);
  a.compress_given = cmd.count("--compress") > 0;
  const auto hint = fmt::format(" (see s3bd {} --help)", cmd.get_name());
  if (a.store.empty()) throw UsageError("STORE is required" + hint);
  if (mountpoint && mountpoint->empty()) throw UsageError("MOUNTPOINT is required" + hint);
}

// One line for a parse error, pointing to the help of the command it is
// about: `s3bd mount --help` for an error inside `s3bd mount ...`.
void PrintParseError(const CLI::App& app, const CLI::ParseError& e) {
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->parsed()) {
      PrintError(fmt::format("{} (see s3bd {} --help)", e.what(), sub->get_name()));
      return;
    }
  }
  // No command was recognised: the first word is an unknown one, or missing.
  const std::vector<std::string> rest = app.remaining();
  if (rest.empty()) {
    PrintError("a command is required: mount, nbd, sync, stats, resize, unmount, info, verify, erase, unlock or passwd (see s3bd --help)");
  } else if (rest.front().rfind('-', 0) == 0) {
    PrintError(fmt::format("unknown option '{}' (see s3bd --help)", rest.front()));
  } else {
    PrintError(fmt::format("unknown command '{}' (see s3bd --help)", rest.front()));
  }
}

}  // namespace

int RunCli(int argc, char** argv) {
  // s3backer's spellings: a hint instead of CLI11's "unknown option". Only
  // before a "--" (after it, arguments are not options).
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") break;
    if (const auto hint = S3backerOptionHint(argv[i])) {
      PrintError(*hint);
      return 2;
    }
  }
  CLI::App app("s3bd: a virtual disk whose blocks live in a bucket or a directory", "s3bd");
  app.set_version_flag("--version", std::string("s3bd ") + S3BD_VERSION);
  app.require_subcommand(1);
  MountArgs margs;
  AddMountCommand(app, margs);
  NbdArgs nargs;
  AddNbdCommand(app, nargs);
  std::string sync_mnt, stats_mnt;
  bool sync_quiet = false, stats_json = false;
  CLI::App* sync = app.add_subcommand(
      "sync", "Wait until everything written to a mounted volume so far is in the store");
  sync->add_option("MOUNTPOINT", sync_mnt, "Where the volume is mounted")->required();
  sync->add_flag("-q,--quiet", sync_quiet, "No progress bar and no message on success");
  CLI::App* stats = app.add_subcommand("stats", "Print the stats of a mounted volume");
  stats->add_option("MOUNTPOINT", stats_mnt, "Where the volume is mounted")->required();
  stats->add_flag("--json", stats_json, "One JSON object with stable keys (see the README's Stats section)");
  std::string resize_mnt, resize_size;
  bool resize_quiet = false;
  CLI::App* resize = app.add_subcommand(
      "resize", "Grow (or shrink, if the end is empty) a mounted volume while it stays in use");
  resize->add_option("MOUNTPOINT", resize_mnt, "Where the volume is mounted")->required();
  resize->add_option("--size", resize_size,
                     "The new size: a whole number of blocks, e.g. 3G, 512M (binary units)")
      ->required();
  resize->add_flag("-q,--quiet", resize_quiet, "No message on success");
  std::string unmount_mnt;
  bool unmount_quiet = false;
  CLI::App* unmount = app.add_subcommand(
      "unmount", "Unmount a volume and wait until the daemon has stored everything; exit 0 only if it did");
  unmount->add_option("MOUNTPOINT", unmount_mnt, "Where the volume is mounted")->required();
  unmount->add_flag("-q,--quiet", unmount_quiet, "No progress bar and no message on success");
  StoreArgs iargs;
  bool info_count = false, info_json = false, info_quiet = false;
  CLI::App* info = app.add_subcommand("info", "Print what a store's volume is: size, block size, id, checksums");
  info->add_option("STORE", iargs.store, "The store: a directory path, file:///absolute/path or s3://BUCKET[/PREFIX]")
      ->required();
  info->add_flag("--count", info_count, "Also count the stored blocks and bytes (lists the store)");
  info->add_flag("--json", info_json, "One JSON object");
  info->add_flag("-q,--quiet", info_quiet, "No progress bar");
  AddS3Options(info, iargs, /*mount_only=*/false);
  StoreArgs vargs;
  bool verify_json = false, verify_quiet = false;
  CLI::App* verify = app.add_subcommand(
      "verify", "Read and check every object of a volume; list those corrupt, unreadable, outside it or not s3bd's");
  verify->add_option("STORE", vargs.store, "The store: a directory path, file:///absolute/path or s3://BUCKET[/PREFIX]")
      ->required();
  verify->add_flag("--json", verify_json, "One JSON object");
  std::string verify_passphrase;
  verify->add_option("--passphrase-file", verify_passphrase,
                     "An encrypted volume's passphrase, as for mount (default: S3BD_PASSPHRASE_FILE, else a prompt)");
  verify->add_flag("-q,--quiet", verify_quiet, "No progress bar");
  AddS3Options(verify, vargs, /*mount_only=*/false);
  StoreArgs eargs;
  bool erase_yes = false, erase_quiet = false;
  CLI::App* erase = app.add_subcommand("erase", "Delete every object of a volume: its blocks and its metadata");
  erase->add_option("STORE", eargs.store, "The store: a directory path, file:///absolute/path or s3://BUCKET[/PREFIX]")
      ->required();
  erase->add_flag("--yes", erase_yes, "Do not ask for confirmation (needed when stdin is not a terminal)");
  erase->add_flag("-q,--quiet", erase_quiet, "No progress bar and no message on success");
  AddS3Options(erase, eargs, /*mount_only=*/false);
  // unlock takes the store and the S3 options of mount.
  StoreArgs uargs;
  bool unlock_force = false;
  CLI::App* unlock = app.add_subcommand(
      "unlock", "Remove the lease left by a read-write mount that did not unmount cleanly, after printing whose it was");
  unlock->add_option("STORE", uargs.store, "The store: a directory path, file:///absolute/path or s3://BUCKET[/PREFIX]")
      ->required();
  unlock->add_flag("--force", unlock_force,
                   "Remove a lease that is still being renewed (its machine is gone; its cache file's unsaved "
                   "blocks are then never uploaded)");
  AddS3Options(unlock, uargs, /*mount_only=*/false);
  StoreArgs pargs;
  PasswdOptions popts;
  CLI::App* passwd = app.add_subcommand(
      "passwd", "Change (or add) a passphrase of an encrypted volume; no block is rewritten, mounts keep working");
  passwd->add_option("STORE", pargs.store, "The store: a directory path, file:///absolute/path or s3://BUCKET[/PREFIX]")
      ->required();
  passwd->add_option("--passphrase-file", popts.old_file,
                     "A current passphrase (default: S3BD_PASSPHRASE_FILE, else a prompt)");
  passwd->add_option("--new-passphrase-file", popts.new_file, "The new passphrase (default: a prompt, asked twice)");
  passwd->add_flag("--add", popts.add,
                   "Add the new passphrase in a free key slot and keep the current one (default: replace it)");
  AddS3Options(passwd, pargs, /*mount_only=*/false);
  // --compress with no value means zstd; CLI11 leaves the string empty.
  CLI::App* mount_app = app.get_subcommand("mount");
  CLI::App* nbd_app = app.get_subcommand("nbd");
  // mount(8)'s form (fstab, mount -t fuse.s3bd): s3bd STORE MOUNTPOINT -o OPTS.
  std::vector<std::string> helper_args;
  std::vector<char*> helper_argv;
  try {
    const std::vector<std::string> given(argv + 1, argv + argc);
    const auto rewritten = MountHelperArgs(
        given, [&](const std::string& o) { return mount_app->get_option_no_throw(o) != nullptr; },
        [&](const std::string& c) {
          return !app.get_subcommands([&](CLI::App* s) { return s->get_name() == c; }).empty();
        });
    if (rewritten) {
      helper_args = *rewritten;
      helper_argv.push_back(argv[0]);
      for (std::string& a : helper_args) helper_argv.push_back(a.data());
      argc = static_cast<int>(helper_argv.size());
      argv = helper_argv.data();
    }
  } catch (const StartupError& e) {
    return ReportError(e);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    PrintParseError(app, e);
    return kExitUsage;
  }
  if (nbd_app->parsed()) {
    StoreConfig store;
    NbdConfig nbd;
    DaemonConfig daemon;
    try {
      ApplyConfigAndRequire(*nbd_app, nargs, nullptr);
      Convert(nargs, store, nbd);
      daemon = ConvertDaemon(nargs);
    } catch (const StartupError& e) {
      return ReportError(e);
    }
    return RunNbd(std::move(store), std::move(nbd), std::move(daemon));
  }
  if (sync->parsed()) return RunSync(sync_mnt, sync_quiet);
  if (stats->parsed()) return RunStats(stats_mnt, stats_json);
  if (resize->parsed()) return RunResize(resize_mnt, resize_size, resize_quiet);
  if (unmount->parsed()) return RunUnmount(unmount_mnt, unmount_quiet);
  if (info->parsed()) {
    StoreConfig store;
    try {
      ConvertStore(iargs, store);
    } catch (const StartupError& e) {
      return ReportError(e);
    }
    return RunInfo(store, info_count, info_json, info_quiet);
  }
  if (verify->parsed() || erase->parsed()) {
    StoreConfig store;
    try {
      ConvertStore(verify->parsed() ? vargs : eargs, store);
      if (verify->parsed()) {
        store.codec.passphrase_file = verify_passphrase;
        store.unlocked = true;          // beside a read-write mount: see volume_commands.cpp
        store.s3.checksum_attempts = 3;  // a corrupt object stays corrupt
      } else {
        if (store.s3.anonymous) throw UsageError("--anonymous cannot erase (unsigned requests cannot delete)");
        store.read_only = false;  // the directory store's exclusive lock: refused while mounted
      }
    } catch (const StartupError& e) {
      return ReportError(e);
    }
    return verify->parsed() ? RunVerify(store, verify_json, verify_quiet) : RunErase(store, erase_yes, erase_quiet);
  }
  if (unlock->parsed()) {
    StoreConfig ustore;
    try {
      ConvertStore(uargs, ustore);
      ustore.read_only = false;  // it deletes the lease (and locks a directory store as a writer would)
    } catch (const StartupError& e) {
      return ReportError(e);
    }
    return RunUnlock(ustore, unlock_force);
  }
  if (passwd->parsed()) {
    StoreConfig pstore;
    try {
      ConvertStore(pargs, pstore);
      if (pstore.s3.anonymous) throw UsageError("--anonymous cannot change a passphrase (unsigned requests cannot write)");
      // Writes only the volume's metadata object, beside a mount: see
      // passwd_command.cpp.
      pstore.read_only = false;
      pstore.unlocked = true;
    } catch (const StartupError& e) {
      return ReportError(e);
    }
    return RunPasswd(pstore, popts);
  }
  StoreConfig store;
  MountConfig mount;
  DaemonConfig daemon;
  try {
    ApplyConfigAndRequire(*mount_app, margs, &margs.mountpoint);
    Convert(margs, store, mount);
    daemon = ConvertDaemon(margs);
  } catch (const StartupError& e) {
    return ReportError(e);
  }
  return RunMount(std::move(store), std::move(mount), std::move(daemon));
}

}  // namespace s3bd
