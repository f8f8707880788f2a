// main.cpp - command line of s3bd_test_s3server, the in-memory,
// fault-injecting S3-compatible server used by s3bd's tests. Parses flags,
// starts S3Server (server.h), writes the port file and serves until SIGINT,
// SIGTERM or POST /_control/shutdown.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "server.h"

namespace {

const char kUsage[] = R"(Usage: s3bd_test_s3server [options]

In-memory, fault-injecting S3-compatible server for tests (path-style
http://HOST:PORT/BUCKET/KEY and virtual-host style BUCKET.localhost:PORT).

Server:
  --host ADDR               address to listen on (default 127.0.0.1)
  --port N                  port; 0 picks a free one (default 0)
  --port-file PATH          write the port to PATH once listening
  --threads N               worker threads = max concurrent connections (320)
  --keep-alive-timeout S    idle keep-alive timeout in seconds (30)
  --quiet                   print nothing at start
  --log-requests            log every request on stderr
  --bucket NAME             create bucket NAME at start (repeatable)
  --auto-create-buckets     create a missing bucket on first use
  --require-auth            403 AccessDenied for requests without credentials
  --deny-access-key KEY     403 InvalidAccessKeyId for this access key (repeatable)
  --region NAME             region reported by GetBucketLocation (us-east-1)
  --vhost-domain D          Host: BUCKET.D selects virtual-host style
                            (repeatable; default localhost)
  --no-verify-sha256        do not check x-amz-content-sha256 payload hashes
  --seed N                  seed of the PRNG behind every random choice
                            (default: random; printed at start)

Knobs (also changeable at run time, see below):
  --latency-ms MS           fixed delay per request
  --jitter-ms MS            extra uniform random delay in [0, MS)
  --bandwidth BYTES         per-connection limit for request and response
                            bodies, bytes/s with optional k/m/g suffix
  --hang-ms MS              duration of the hang fault (default 60000)
  --stale-ms MS             stale-read window after PUT/DELETE (default 1000)
  --fault OP.TYPE=RATE      fault probability; OP: get put delete list head any;
                            TYPE: http500 slowdown reset hang truncate stale
                            corrupt strip (repeatable)
  --set KEY=VALUE           any knob by name (repeatable)

Control endpoints (no faults, no latency):
  GET  /_control/config              current knobs as JSON
  POST /_control/config              set knobs: form body "k=v&k=v", JSON
                                     object, or query string
  POST /_control/outage?seconds=N[&mode=503|reset]
                                     every S3 request fails for N seconds
  GET  /_control/counters            requests, bytes, faults, objects (JSON)
  POST /_control/reset[?data=1][&config=1]
                                     zero counters, end hangs; data=1 deletes
                                     all objects; config=1 restores start knobs
  GET  /_control/health
  POST /_control/shutdown
)";

bool take_value(int argc, char **argv, int &i, const std::string &arg,
                const std::string &name, std::string &value) {
  if (arg == name) {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "s3bd_test_s3server: %s needs a value\n", name.c_str());
      std::exit(2);
    }
    value = argv[++i];
    return true;
  }
  if (arg.rfind(name + "=", 0) == 0) {
    value = arg.substr(name.size() + 1);
    return true;
  }
  return false;
}

long to_long(const std::string &name, const std::string &v) {
  char *end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || !end || *end != '\0') {
    std::fprintf(stderr, "s3bd_test_s3server: bad number for %s: %s\n", name.c_str(), v.c_str());
    std::exit(2);
  }
  return n;
}

}  // namespace

int main(int argc, char **argv) {
  s3server::ServerOptions opts;
  s3server::FaultPlan knobs(0);  // only used to parse knob flags
  bool seed_set = false;
  auto set_knob = [&](const std::string &key, const std::string &value) {
    std::string err = knobs.set(key, value);
    if (!err.empty()) {
      std::fprintf(stderr, "s3bd_test_s3server: %s\n", err.c_str());
      std::exit(2);
    }
  };
  bool default_vhost = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], v;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (take_value(argc, argv, i, arg, "--host", v)) {
      opts.host = v;
    } else if (take_value(argc, argv, i, arg, "--port", v)) {
      opts.port = static_cast<int>(to_long(arg, v));
    } else if (take_value(argc, argv, i, arg, "--port-file", v)) {
      opts.port_file = v;
    } else if (take_value(argc, argv, i, arg, "--threads", v)) {
      opts.threads = static_cast<size_t>(std::max(1L, to_long(arg, v)));
    } else if (take_value(argc, argv, i, arg, "--keep-alive-timeout", v)) {
      opts.keep_alive_timeout_s = static_cast<int>(to_long(arg, v));
    } else if (arg == "--quiet" || arg == "-q") {
      opts.quiet = true;
    } else if (arg == "--log-requests") {
      opts.log_requests = true;
    } else if (take_value(argc, argv, i, arg, "--bucket", v)) {
      opts.buckets.push_back(v);
    } else if (arg == "--auto-create-buckets") {
      opts.auto_create_buckets = true;
    } else if (arg == "--require-auth") {
      opts.require_auth = true;
    } else if (take_value(argc, argv, i, arg, "--deny-access-key", v)) {
      opts.deny_access_keys.push_back(v);
    } else if (take_value(argc, argv, i, arg, "--region", v)) {
      opts.region = v;
    } else if (take_value(argc, argv, i, arg, "--vhost-domain", v)) {
      if (default_vhost) opts.vhost_domains.clear();
      default_vhost = false;
      opts.vhost_domains.push_back(v);
    } else if (arg == "--no-verify-sha256") {
      opts.verify_sha256 = false;
    } else if (take_value(argc, argv, i, arg, "--seed", v)) {
      opts.seed = std::strtoull(v.c_str(), nullptr, 10);
      seed_set = true;
    } else if (take_value(argc, argv, i, arg, "--latency-ms", v)) {
      set_knob("latency_ms", v);
    } else if (take_value(argc, argv, i, arg, "--jitter-ms", v)) {
      set_knob("jitter_ms", v);
    } else if (take_value(argc, argv, i, arg, "--bandwidth", v)) {
      set_knob("bandwidth", v);
    } else if (take_value(argc, argv, i, arg, "--hang-ms", v)) {
      set_knob("hang_ms", v);
    } else if (take_value(argc, argv, i, arg, "--stale-ms", v)) {
      set_knob("stale_ms", v);
    } else if (take_value(argc, argv, i, arg, "--fault", v) ||
               take_value(argc, argv, i, arg, "--set", v)) {
      size_t eq = v.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "s3bd_test_s3server: %s expects KEY=VALUE\n", arg.c_str());
        return 2;
      }
      set_knob(v.substr(0, eq), v.substr(eq + 1));
    } else {
      std::fprintf(stderr, "s3bd_test_s3server: unknown option %s (see --help)\n", arg.c_str());
      return 2;
    }
  }
  if (!seed_set) {
    std::random_device rd;
    opts.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  opts.faults = knobs.config();

  // SIGINT/SIGTERM are handled by a thread of their own (blocked elsewhere).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  s3server::S3Server server(opts);
  int port = server.bind();
  if (port < 0) {
    std::fprintf(stderr, "s3bd_test_s3server: cannot listen on %s:%d\n", opts.host.c_str(),
                 opts.port);
    return 1;
  }
  if (!opts.quiet) {
    std::printf("s3bd_test_s3server: listening on http://%s:%d seed=%llu threads=%zu\n",
                opts.host.c_str(), port, static_cast<unsigned long long>(opts.seed),
                opts.threads);
    std::fflush(stdout);
  }
  std::thread sig_thread([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    server.stop();
  });
  server.run();
  server.stop();
  // Wake the signal thread if the stop came from /_control/shutdown.
  kill(getpid(), SIGTERM);
  sig_thread.join();
  return 0;
}
