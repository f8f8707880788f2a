// An NBD server for one Volume: the handshake and the transmission phase
// over a connected stream socket (Unix or TCP), for any number of
// connections at once. It knows nothing of how connections are accepted
// (nbd_listener.h) or of the daemon around it.
//
// Handshake: fixed newstyle (NO_ZEROES offered), options NBD_OPT_GO,
// NBD_OPT_INFO, NBD_OPT_EXPORT_NAME, NBD_OPT_LIST, NBD_OPT_ABORT and
// NBD_OPT_STRUCTURED_REPLY; any other option (STARTTLS, meta contexts, ...)
// gets NBD_REP_ERR_UNSUP. One export, named options.export_name; the name ""
// is always accepted for it too (what clients ask for by default); another
// name gets NBD_REP_ERR_UNKNOWN (NBD_OPT_EXPORT_NAME, which has no error
// reply, closes the connection). GO and INFO always send NBD_INFO_EXPORT
// and NBD_INFO_BLOCK_SIZE: minimum 1 (Volume takes any byte range),
// preferred the volume's block size (capped at the maximum), maximum
// options.max_payload.
//
// Transmission: READ, WRITE (FUA), FLUSH, TRIM (FUA), WRITE_ZEROES (FUA,
// NO_HOLE), DISC. FLUSH is Volume::Flush(), what fsync(2) means on the
// FUSE disk file; FUA is a Flush() after the write and before the reply.
// TRIM and WRITE_ZEROES are Volume::ZeroRange() (whole blocks are freed;
// the range reads as zeros afterwards in both cases; NO_HOLE changes
// nothing, the range is zeroed either way). Errors:
//   - a range past the end: NBD_ENOSPC for WRITE and WRITE_ZEROES,
//     NBD_EINVAL for READ and TRIM;
//   - READ or WRITE longer than max_payload: NBD_EINVAL (a WRITE's payload
//     is read and dropped first, so the connection stays in step);
//   - writing commands on a read-only export: NBD_EPERM;
//   - an unknown command or flag: NBD_EINVAL;
//   - a failed Volume call: ToNbdError() of its error_code.
// A request header with a bad magic is a broken client: the connection is
// closed.
//
// With structured replies negotiated, READ answers with one
// NBD_REPLY_TYPE_OFFSET_DATA chunk (NBD_REPLY_TYPE_OFFSET_HOLE if the data
// read is all zeros) or one NBD_REPLY_TYPE_ERROR_OFFSET chunk naming where
// it failed; other commands answer with NBD_REPLY_TYPE_NONE or
// NBD_REPLY_TYPE_ERROR (with the error's text). A single content chunk per
// READ also means NBD_CMD_FLAG_DF is always honoured, so SEND_DF is set.
// Without them, simple replies.
//
// Concurrency. Each connection has a reader (the thread that called
// ServeConnection) and a pool of options.workers threads: the reader
// decodes requests (and reads WRITE payloads) and queues them, the workers
// run them against the Volume in parallel and write the replies, one at a
// time under the connection's reply mutex. The reader stops taking requests
// while max_requests requests or max_buffered bytes are in flight
// (back-pressure, so a client cannot make us buffer without bound). When
// the client disconnects (NBD_CMD_DISC, EOF, an error), or Shutdown() is
// called, the reader stops, the requests already read still run (their
// replies are dropped if the client is gone), the workers are joined and
// the socket is closed: nothing is left behind. A write to a client that
// stopped reading blocks only until Shutdown().
//
// CAN_MULTI_CONN is advertised (for a writable export; it means nothing
// for a read-only one, but is harmless there too) because it holds: all
// connections share this one Volume over one stack, so (a) a READ on any
// connection sees every WRITE any connection has had acknowledged (the
// block cache is shared, and Volume's per-block locks order partial writes
// of one block whoever sends them), and (b) FLUSH is Volume::Flush() ->
// BlockStore::Flush(), whose contract (core/block_store.h) covers every
// Write()/Zero() that returned before it was called, from any thread; a
// reply is sent only after its Volume call returned, so every write
// acknowledged on any connection before a FLUSH is received is covered.
//
// Thread-safe: ServeConnection() may run on many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>

#include "s3bd/core/stats.h"
#include "s3bd/core/unique_fd.h"
#include "s3bd/nbd/nbd_protocol.h"
#include "s3bd/volume/volume.h"

namespace s3bd::nbd {

// The one error_code -> NBD error conversion (through ToErrno()): EPERM
// and EROFS and EACCES -> NBD_EPERM, ENOMEM, EINVAL, ENOSPC (also EFBIG and
// EDQUOT), EOVERFLOW, ENOTSUP/EOPNOTSUPP and ESHUTDOWN keep their NBD
// value, everything else (store failures, corrupt blocks) -> NBD_EIO.
std::uint32_t ToNbdError(std::error_code ec);

struct ServerOptions {
  std::string export_name;            // "" by default; "" is always accepted
  std::string description;            // NBD_INFO_DESCRIPTION, if asked for
  bool read_only = false;
  unsigned workers = 16;              // per connection
  std::uint32_t max_payload = 32u << 20;  // largest READ/WRITE accepted
  unsigned max_requests = 128;        // in flight per connection
  std::uint64_t max_buffered = 256u << 20;  // READ/WRITE bytes in flight per connection
};

class Server {
 public:
  // The volume must outlive the server.
  Server(Volume& volume, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves one client on `fd` (a connected stream socket; closed when this
  // returns): the handshake, then requests until the client disconnects or
  // Shutdown() is called. Returns once every request it read has been
  // answered (or its reply dropped). Never throws.
  void ServeConnection(UniqueFd fd);

  // Every ServeConnection() (running or later) stops reading the client,
  // finishes what it read and returns. Async-signal-safe (one write(2)).
  void Shutdown();
  bool shutting_down() const;

  // {"export_name", "read_only", "connections", "active_connections",
  //  "structured_replies", "requests": {"read": {"ops", "bytes", "errors"}, ...},
  //  "largest_read_request", "largest_write_request", "errors_returned",
  //  "protocol_errors"}
  StatsJson Stats() const;

  const ServerOptions& options() const { return options_; }
  Volume& volume() { return volume_; }

  // Counters (public for the connection code in nbd_server.cpp).
  struct OpCounters {
    std::atomic<std::uint64_t> ops{0}, bytes{0}, errors{0};
  };
  struct Counters {
    std::atomic<std::uint64_t> connections{0}, active{0}, structured{0};
    OpCounters read, write, flush, trim, write_zeroes, other;
    FrontendCounters common;  // largest requests, errors returned (core/stats.h)
    std::atomic<std::uint64_t> protocol_errors{0};
  };
  Counters& counters() { return counters_; }
  int stop_fd() const { return stop_fd_.get(); }

 private:
  Volume& volume_;
  const ServerOptions options_;
  UniqueFd stop_fd_;  // an eventfd, readable once Shutdown() was called
  Counters counters_;
};

}  // namespace s3bd::nbd
