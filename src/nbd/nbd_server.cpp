// The NBD server: handshake and transmission over one socket per client.
// See the header for the behaviour; this file has one Connection per
// ServeConnection() call.
//
// A connection's life:
//   handshake (the caller's thread) -> transmission: the caller's thread
//   reads requests and queues them, `workers` threads run them and reply
//   -> end (DISC, EOF, a broken request, a failed reply, Shutdown()): the
//   reader stops, the workers finish the queue and are joined, the socket
//   is closed.
// Locks: `mu_` (queue and in-flight counts) and `reply_mu_` (one reply on
// the socket at a time) are never held together, nor across a Volume call.
#include "s3bd/nbd/nbd_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd::nbd {

std::uint32_t ToNbdError(std::error_code ec) {
  switch (ToErrno(ec)) {
    case EPERM:
    case EROFS:
    case EACCES:
      return kEperm;
    case ENOMEM:
      return kEnomem;
    case EINVAL:
      return kEinval;
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
      return kEnospc;
    case EOVERFLOW:
      return kEoverflow;
    case ENOTSUP:
      return kEnotsup;
    case ESHUTDOWN:
      return kEshutdown;
    default:
      return kEio;
  }
}

namespace {

// Options longer than this are refused (names are at most 4096 bytes).
constexpr std::uint32_t kMaxOptionLength = 64u << 10;
// How long a reply may wait for a client that does not read it, once the
// server is stopping.
constexpr int kStopWriteTimeoutMs = 5000;

bool Stopped(int stop_fd) {
  struct pollfd p = {stop_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Reads exactly `n` bytes; false at EOF, on an error or once the server is
// told to stop.
bool ReadFull(int fd, int stop_fd, void* buf, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(buf);
  while (n > 0) {
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents) return false;
    const ssize_t got = ::recv(fd, p, n, MSG_DONTWAIT);
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return false;
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// Reads and drops `n` bytes.
bool Discard(int fd, int stop_fd, std::uint64_t n) {
  std::vector<std::uint8_t> sink(std::min<std::uint64_t>(n, 1u << 20));
  while (n > 0) {
    const std::size_t chunk = std::min<std::uint64_t>(n, sink.size());
    if (!ReadFull(fd, stop_fd, sink.data(), chunk)) return false;
    n -= chunk;
  }
  return true;
}

// Writes all of `iov`; false if the socket failed, or if the client has not
// read for kStopWriteTimeoutMs once the server is stopping.
bool WriteAll(int fd, int stop_fd, std::span<struct iovec> iov) {
  std::size_t first = 0;
  while (first < iov.size()) {
    struct msghdr msg {};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = iov.size() - first;
    const ssize_t put = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      const bool stopping = Stopped(stop_fd);
      struct pollfd fds[2] = {{fd, POLLOUT, 0}, {stop_fd, POLLIN, 0}};
      const int r = ::poll(fds, stopping ? 1 : 2, stopping ? kStopWriteTimeoutMs : -1);
      if (r == 0) return false;  // stopping, and the client does not read
      if (r < 0 && errno != EINTR) return false;
      continue;
    }
    auto left = static_cast<std::size_t>(put);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<std::uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

struct iovec Iov(const void* p, std::size_t n) { return {const_cast<void*>(p), n}; }

bool AllZero(const std::uint8_t* p, std::size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

// A request with its WRITE payload, queued for a worker.
struct Item {
  Request req;
  std::unique_ptr<std::uint8_t[]> data;  // WRITE payload (req.length bytes)
  std::uint64_t cost = 0;                // READ/WRITE bytes held in flight
  std::uint32_t preset_error = 0;        // reply this error without running it
  std::string preset_message;
};

class Connection {
 public:
  Connection(Server& server, UniqueFd fd) : server_(server), opts_(server.options()), fd_(std::move(fd)) {}

  void Run() {
    auto& c = server_.counters();
    c.connections.fetch_add(1, std::memory_order_relaxed);
    c.active.fetch_add(1, std::memory_order_relaxed);
    try {
      // A server that is stopping greets no one.
      if (!server_.shutting_down() && Handshake()) Transmission();
    } catch (const std::exception& e) {
      // bad_alloc, or no thread could be started: this connection ends.
      spdlog::error("nbd: connection ended: {}", e.what());
    }
    StopWorkers();
    c.active.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  int fd() const { return fd_.get(); }
  int stop_fd() const { return server_.stop_fd(); }

  void ProtocolError(const std::string& what) {
    server_.counters().protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("nbd: closing a connection: {}", what);
  }

  // ---- handshake -------------------------------------------------------

  bool SendOptionReply(std::uint32_t option, std::uint32_t type, std::span<const std::uint8_t> data = {}) {
    std::uint8_t h[kOptionReplyHeaderSize];
    Put64(h, kOptReplyMagic);
    Put32(h + 8, option);
    Put32(h + 12, type);
    Put32(h + 16, static_cast<std::uint32_t>(data.size()));
    struct iovec iov[2] = {Iov(h, sizeof h), Iov(data.data(), data.size())};
    return WriteAll(fd(), stop_fd(), {iov, data.empty() ? 1u : 2u});
  }
  bool SendOptionError(std::uint32_t option, std::uint32_t type, const std::string& message) {
    spdlog::debug("nbd: {}: {}", OptionName(option), message);
    return SendOptionReply(option, type, {reinterpret_cast<const std::uint8_t*>(message.data()), message.size()});
  }

  bool NameServed(const std::string& name) const { return name.empty() || name == opts_.export_name; }
  std::string UnknownExport(const std::string& name) const {
    return fmt::format("no export named '{}' (this server serves '{}')", name, opts_.export_name);
  }

  std::uint16_t TransmissionFlags() const {
    std::uint16_t f = kTransHasFlags | kTransCanMultiConn;
    if (opts_.read_only) {
      f |= kTransReadOnly;
    } else {
      f |= kTransSendFlush | kTransSendFua | kTransSendTrim | kTransSendWriteZeroes;
    }
    if (structured_) f |= kTransSendDf;
    return f;
  }

  // NBD_OPT_INFO / NBD_OPT_GO; true in *go when transmission begins.
  bool InfoOrGo(std::uint32_t option, const std::vector<std::uint8_t>& d, bool* go) {
    *go = false;
    if (d.size() < 6) return SendOptionError(option, kRepErrInvalid, "option data too short");
    const std::uint32_t name_len = Get32(d.data());
    if (name_len > d.size() - 6) return SendOptionError(option, kRepErrInvalid, "export name length too long");
    const std::string name(reinterpret_cast<const char*>(d.data()) + 4, name_len);
    const std::uint16_t n = Get16(d.data() + 4 + name_len);
    if (d.size() != 4 + name_len + 2 + 2u * n) {
      return SendOptionError(option, kRepErrInvalid, "option length does not match its information requests");
    }
    bool want_name = false, want_description = false;
    for (std::uint16_t i = 0; i < n; ++i) {
      const std::uint16_t t = Get16(d.data() + 4 + name_len + 2 + 2 * i);
      want_name |= t == kInfoName;
      want_description |= t == kInfoDescription;
    }
    if (server_.shutting_down()) return SendOptionError(option, kRepErrShutdown, "the server is stopping");
    if (!NameServed(name)) return SendOptionError(option, kRepErrUnknown, UnknownExport(name));
    std::uint8_t exp[12];
    Put16(exp, kInfoExport);
    Put64(exp + 2, server_.volume().size());
    Put16(exp + 10, TransmissionFlags());
    if (!SendOptionReply(option, kRepInfo, exp)) return false;
    std::uint8_t bs[14];
    Put16(bs, kInfoBlockSize);
    Put32(bs + 2, 1);
    Put32(bs + 6, static_cast<std::uint32_t>(std::min<std::uint64_t>(server_.volume().geometry().block_size,
                                                                      opts_.max_payload)));
    Put32(bs + 10, opts_.max_payload);
    if (!SendOptionReply(option, kRepInfo, bs)) return false;
    if (want_name) {
      std::vector<std::uint8_t> v(2 + opts_.export_name.size());
      Put16(v.data(), kInfoName);
      std::memcpy(v.data() + 2, opts_.export_name.data(), opts_.export_name.size());
      if (!SendOptionReply(option, kRepInfo, v)) return false;
    }
    if (want_description && !opts_.description.empty()) {
      std::vector<std::uint8_t> v(2 + opts_.description.size());
      Put16(v.data(), kInfoDescription);
      std::memcpy(v.data() + 2, opts_.description.data(), opts_.description.size());
      if (!SendOptionReply(option, kRepInfo, v)) return false;
    }
    if (!SendOptionReply(option, kRepAck)) return false;
    *go = option == kOptGo;
    return true;
  }

  // True when the transmission phase begins.
  bool Handshake() {
    std::uint8_t hello[18];
    Put64(hello, kNbdMagic);
    Put64(hello + 8, kOptMagic);
    Put16(hello + 16, kFlagFixedNewstyle | kFlagNoZeroes);
    struct iovec iov = Iov(hello, sizeof hello);
    if (!WriteAll(fd(), stop_fd(), {&iov, 1})) return false;
    std::uint8_t cf[4];
    if (!ReadFull(fd(), stop_fd(), cf, 4)) return false;
    const std::uint32_t client_flags = Get32(cf);
    if (client_flags & ~(kClientFlagFixedNewstyle | kClientFlagNoZeroes)) {
      ProtocolError(fmt::format("unknown client flags {:#x}", client_flags));
      return false;
    }
    const bool fixed = client_flags & kClientFlagFixedNewstyle;
    const bool no_zeroes = client_flags & kClientFlagNoZeroes;
    for (;;) {
      std::uint8_t h[kOptionHeaderSize];
      if (!ReadFull(fd(), stop_fd(), h, sizeof h)) return false;
      if (Get64(h) != kOptMagic) {
        ProtocolError("bad option magic");
        return false;
      }
      const std::uint32_t option = Get32(h + 8);
      const std::uint32_t len = Get32(h + 12);
      if (len > kMaxOptionLength) {
        if (option == kOptExportName || !fixed) {
          ProtocolError(fmt::format("{} of {} bytes", OptionName(option), len));
          return false;
        }
        if (!Discard(fd(), stop_fd(), len)) return false;
        if (!SendOptionError(option, kRepErrTooBig, "option too long")) return false;
        continue;
      }
      std::vector<std::uint8_t> data(len);
      if (len > 0 && !ReadFull(fd(), stop_fd(), data.data(), len)) return false;
      if (option == kOptExportName) {
        const std::string name(data.begin(), data.end());
        if (!NameServed(name) || server_.shutting_down()) {
          // No error reply exists for this option: the connection ends.
          spdlog::info("nbd: NBD_OPT_EXPORT_NAME: {}", server_.shutting_down() ? "the server is stopping"
                                                                              : UnknownExport(name));
          return false;
        }
        std::uint8_t reply[10 + kExportNameZeroes] = {};
        Put64(reply, server_.volume().size());
        Put16(reply + 8, TransmissionFlags());
        struct iovec r = Iov(reply, no_zeroes ? 10 : sizeof reply);
        return WriteAll(fd(), stop_fd(), {&r, 1});
      }
      if (!fixed) {
        // A client of the old, unfixed newstyle can take no option reply.
        ProtocolError(fmt::format("{} from a client without fixed newstyle", OptionName(option)));
        return false;
      }
      switch (option) {
        case kOptAbort:
          (void)SendOptionReply(option, kRepAck);  // the client need not wait for it
          return false;
        case kOptList: {
          if (len != 0) {
            if (!SendOptionError(option, kRepErrInvalid, "NBD_OPT_LIST takes no data")) return false;
            break;
          }
          std::vector<std::uint8_t> v(4 + opts_.export_name.size());
          Put32(v.data(), static_cast<std::uint32_t>(opts_.export_name.size()));
          std::memcpy(v.data() + 4, opts_.export_name.data(), opts_.export_name.size());
          if (!SendOptionReply(option, kRepServer, v) || !SendOptionReply(option, kRepAck)) return false;
          break;
        }
        case kOptStructuredReply:
          if (len != 0) {
            if (!SendOptionError(option, kRepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data")) return false;
            break;
          }
          structured_ = true;
          if (!SendOptionReply(option, kRepAck)) return false;
          break;
        case kOptInfo:
        case kOptGo: {
          bool go = false;
          if (!InfoOrGo(option, data, &go)) return false;
          if (go) return true;
          break;
        }
        default:
          if (!SendOptionError(option, kRepErrUnsup, fmt::format("{} ({}) is not supported", OptionName(option),
                                                                 option))) {
            return false;
          }
      }
    }
  }

  // ---- transmission ----------------------------------------------------

  void Transmission() {
    if (structured_) server_.counters().structured.fetch_add(1, std::memory_order_relaxed);
    const unsigned n = std::max(1u, opts_.workers);
    for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { Worker(); });
    for (;;) {
      std::uint8_t h[kRequestSize];
      if (!ReadFull(fd(), stop_fd(), h, sizeof h)) return;
      Item item;
      if (!DecodeRequest(h, &item.req)) {
        ProtocolError("bad request magic");
        return;
      }
      const Request& r = item.req;
      if (r.type == kCmdDisc) return;
      const bool sized = r.type == kCmdRead || r.type == kCmdWrite;
      const bool oversized = sized && r.length > opts_.max_payload;
      item.cost = sized && !oversized ? r.length : 0;
      {
        std::unique_lock lock(mu_);
        space_cv_.wait(lock, [&] {
          return in_flight_ < opts_.max_requests &&
                 (in_flight_ == 0 || in_flight_bytes_ + item.cost <= opts_.max_buffered);
        });
      }
      if (oversized) {
        item.preset_error = kEinval;
        item.preset_message =
            fmt::format("request of {} bytes is larger than the maximum, {}", r.length, opts_.max_payload);
        if (r.type == kCmdWrite && !Discard(fd(), stop_fd(), r.length)) return;
      } else if (r.type == kCmdWrite && r.length > 0) {
        item.data.reset(new std::uint8_t[r.length]);
        if (!ReadFull(fd(), stop_fd(), item.data.get(), r.length)) return;
      }
      {
        std::lock_guard lock(mu_);
        ++in_flight_;
        in_flight_bytes_ += item.cost;
        queue_.push_back(std::move(item));
      }
      work_cv_.notify_one();
    }
  }

  void StopWorkers() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void Worker() {
    for (;;) {
      Item item;
      {
        std::unique_lock lock(mu_);
        work_cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        Execute(item);
      } catch (const std::exception& e) {
        // Only bad_alloc can come here: the client gets its answer still.
        spdlog::error("nbd: {} of {} bytes at {}: {}", CommandName(item.req.type), item.req.length,
                      item.req.offset, e.what());
        Reply(item.req, kEnomem, e.what());
      }
      {
        std::lock_guard lock(mu_);
        --in_flight_;
        in_flight_bytes_ -= item.cost;
      }
      space_cv_.notify_one();
    }
  }

  Server::OpCounters& CountersOf(std::uint16_t type) {
    auto& c = server_.counters();
    switch (type) {
      case kCmdRead: return c.read;
      case kCmdWrite: return c.write;
      case kCmdFlush: return c.flush;
      case kCmdTrim: return c.trim;
      case kCmdWriteZeroes: return c.write_zeroes;
      default: return c.other;
    }
  }

  // The error of a request that must not run, or 0.
  std::uint32_t Check(const Request& r, std::string* why) const {
    const std::uint64_t size = server_.volume().size();
    const bool past_end = r.offset > size || r.length > size - r.offset;
    std::uint16_t allowed = kCmdFlagFua;
    switch (r.type) {
      case kCmdRead:
        if (structured_) allowed |= kCmdFlagDf;
        break;
      case kCmdWriteZeroes:
        allowed |= kCmdFlagNoHole;
        break;
      case kCmdWrite:
      case kCmdTrim:
      case kCmdFlush:
        break;
      default:
        *why = fmt::format("unsupported command {}", r.type);
        return kEinval;
    }
    if (r.flags & ~allowed) {
      *why = fmt::format("unsupported flags {:#x} for {}", r.flags & ~allowed, CommandName(r.type));
      return kEinval;
    }
    const bool writes = r.type == kCmdWrite || r.type == kCmdTrim || r.type == kCmdWriteZeroes;
    if (writes && opts_.read_only) {
      *why = "the export is read-only";
      return kEperm;
    }
    if (r.type != kCmdFlush && past_end) {
      *why = fmt::format("{} bytes at {} reach past the end of the export ({} bytes)", r.length, r.offset, size);
      return r.type == kCmdWrite || r.type == kCmdWriteZeroes ? kEnospc : kEinval;
    }
    return 0;
  }

  void Execute(Item& item) {
    const Request& r = item.req;
    Server::OpCounters& oc = CountersOf(r.type);
    oc.ops.fetch_add(1, std::memory_order_relaxed);
    if (item.preset_error) {
      oc.errors.fetch_add(1, std::memory_order_relaxed);
      Reply(r, item.preset_error, item.preset_message);
      return;
    }
    std::string why;
    if (const std::uint32_t err = Check(r, &why)) {
      oc.errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("nbd: {}", why);
      Reply(r, err, why);
      return;
    }
    Volume& v = server_.volume();
    std::error_code ec;
    switch (r.type) {
      case kCmdRead: {
        server_.counters().common.NoteRead(r.length);
        std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[std::max<std::uint32_t>(r.length, 1)]);
        std::size_t done = 0;
        ec = v.Read(r.offset, {buf.get(), r.length}, done);
        if (!ec && done != r.length) ec = std::make_error_code(std::errc::io_error);
        if (ec) {
          oc.errors.fetch_add(1, std::memory_order_relaxed);
          spdlog::error("nbd: read of {} bytes at {}: {}", r.length, r.offset, ec.message());
          ReplyError(r, ToNbdError(ec), ec.message(), r.offset + done);
          return;
        }
        oc.bytes.fetch_add(r.length, std::memory_order_relaxed);
        ReplyRead(r, buf.get());
        return;
      }
      case kCmdWrite: {
        server_.counters().common.NoteWrite(r.length);
        std::size_t done = 0;
        ec = v.Write(r.offset, {item.data.get(), r.length}, done);
        if (!ec && done != r.length) ec = std::make_error_code(std::errc::io_error);
        break;
      }
      case kCmdFlush:
        if (!opts_.read_only) ec = v.Flush();
        break;
      case kCmdTrim:
      case kCmdWriteZeroes:
        ec = v.ZeroRange(r.offset, r.length);
        break;
    }
    if (!ec && (r.flags & kCmdFlagFua) && r.type != kCmdFlush && r.type != kCmdRead) ec = v.Flush();
    if (ec) {
      oc.errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("nbd: {} of {} bytes at {}: {}", CommandName(r.type), r.length, r.offset, ec.message());
      Reply(r, ToNbdError(ec), ec.message());
      return;
    }
    if (r.type != kCmdFlush) oc.bytes.fetch_add(r.length, std::memory_order_relaxed);
    Reply(r, 0, {});
  }

  // ---- replies ---------------------------------------------------------

  bool Send(std::span<struct iovec> iov) {
    std::lock_guard lock(reply_mu_);
    if (broken_) return false;
    if (!WriteAll(fd(), stop_fd(), iov)) {
      // The client is gone (or stuck while we stop): wake the reader too.
      broken_ = true;
      ::shutdown(fd(), SHUT_RDWR);
      return false;
    }
    return true;
  }

  void ReplyRead(const Request& r, const std::uint8_t* data) {
    if (!structured_) {
      std::uint8_t h[kSimpleReplySize];
      Put32(h, kSimpleReplyMagic);
      Put32(h + 4, 0);
      Put64(h + 8, r.cookie);
      struct iovec iov[2] = {Iov(h, sizeof h), Iov(data, r.length)};
      Send(iov);
      return;
    }
    if (r.length == 0) {
      Reply(r, 0, {});
      return;
    }
    std::uint8_t h[kStructuredReplyHeaderSize + 12];
    const bool hole = AllZero(data, r.length);
    Put32(h, kStructuredReplyMagic);
    Put16(h + 4, kReplyFlagDone);
    Put16(h + 6, hole ? kReplyTypeOffsetHole : kReplyTypeOffsetData);
    Put64(h + 8, r.cookie);
    Put32(h + 16, hole ? 12 : 8 + r.length);
    Put64(h + 20, r.offset);
    if (hole) {
      Put32(h + 28, r.length);
      struct iovec iov[1] = {Iov(h, sizeof h)};
      Send(iov);
    } else {
      struct iovec iov[2] = {Iov(h, kStructuredReplyHeaderSize + 8), Iov(data, r.length)};
      Send(iov);
    }
  }

  // A reply without data: success or an error (with its text, structured).
  void Reply(const Request& r, std::uint32_t error, const std::string& message) {
    if (error) server_.counters().common.errors.fetch_add(1, std::memory_order_relaxed);
    if (!structured_) {
      std::uint8_t h[kSimpleReplySize];
      Put32(h, kSimpleReplyMagic);
      Put32(h + 4, error);
      Put64(h + 8, r.cookie);
      struct iovec iov[1] = {Iov(h, sizeof h)};
      Send(iov);
      return;
    }
    if (!error) {
      std::uint8_t h[kStructuredReplyHeaderSize];
      Put32(h, kStructuredReplyMagic);
      Put16(h + 4, kReplyFlagDone);
      Put16(h + 6, kReplyTypeNone);
      Put64(h + 8, r.cookie);
      Put32(h + 16, 0);
      struct iovec iov[1] = {Iov(h, sizeof h)};
      Send(iov);
      return;
    }
    SendErrorChunk(r, error, message, /*has_offset=*/false, 0);
  }

  // An error; a READ's names the offset it failed at.
  void ReplyError(const Request& r, std::uint32_t error, const std::string& message, std::uint64_t at) {
    if (!structured_) {
      Reply(r, error, message);
      return;
    }
    server_.counters().common.errors.fetch_add(1, std::memory_order_relaxed);
    SendErrorChunk(r, error, message, /*has_offset=*/true, at);
  }

  // An error chunk; NBD_REPLY_TYPE_ERROR_OFFSET if `has_offset` and `at` is
  // inside the request.
  void SendErrorChunk(const Request& r, std::uint32_t error, const std::string& message, bool has_offset,
                      std::uint64_t at) {
    has_offset = has_offset && at >= r.offset && at - r.offset < r.length;
    const std::string text = message.substr(0, 1024);
    std::uint8_t h[kStructuredReplyHeaderSize + 6];
    Put32(h, kStructuredReplyMagic);
    Put16(h + 4, kReplyFlagDone);
    Put16(h + 6, has_offset ? kReplyTypeErrorOffset : kReplyTypeError);
    Put64(h + 8, r.cookie);
    Put32(h + 16, static_cast<std::uint32_t>(6 + text.size() + (has_offset ? 8 : 0)));
    Put32(h + 20, error);
    Put16(h + 24, static_cast<std::uint16_t>(text.size()));
    std::uint8_t off[8];
    Put64(off, at);
    struct iovec iov[3] = {Iov(h, sizeof h), Iov(text.data(), text.size()), Iov(off, 8)};
    Send({iov, has_offset ? 3u : 2u});
  }

  Server& server_;
  const ServerOptions& opts_;
  UniqueFd fd_;
  bool structured_ = false;

  std::mutex reply_mu_;  // one reply at a time; guards broken_
  bool broken_ = false;

  std::mutex mu_;  // guards the queue and the counts below
  std::condition_variable work_cv_, space_cv_;
  std::deque<Item> queue_;
  unsigned in_flight_ = 0;          // queued or running
  std::uint64_t in_flight_bytes_ = 0;
  bool closing_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

Server::Server(Volume& volume, ServerOptions options)
    : volume_(volume), options_(std::move(options)), stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!stop_fd_.valid()) throw std::system_error(LastError(), "eventfd");
}

Server::~Server() = default;

void Server::ServeConnection(UniqueFd fd) {
  try {
    Connection(*this, std::move(fd)).Run();
  } catch (const std::exception& e) {
    spdlog::error("nbd: connection: {}", e.what());
  }
}

void Server::Shutdown() {
  const std::uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof one);
}

bool Server::shutting_down() const { return Stopped(stop_fd_.get()); }

StatsJson Server::Stats() const {
  StatsJson j;
  j["export_name"] = options_.export_name;
  j["read_only"] = options_.read_only;
  j["max_request"] = options_.max_payload;
  j["connections"] = counters_.connections.load();
  j["active_connections"] = counters_.active.load();
  j["structured_replies"] = counters_.structured.load();
  StatsJson& req = j["requests"];
  const auto op = [](const OpCounters& c) {
    StatsJson o;
    o["ops"] = c.ops.load();
    o["bytes"] = c.bytes.load();
    o["errors"] = c.errors.load();
    return o;
  };
  req["read"] = op(counters_.read);
  req["write"] = op(counters_.write);
  req["flush"] = op(counters_.flush);
  req["trim"] = op(counters_.trim);
  req["write_zeroes"] = op(counters_.write_zeroes);
  req["other"] = op(counters_.other);
  j.update(counters_.common.ToJson());
  j["protocol_errors"] = counters_.protocol_errors.load();
  return j;
}

}  // namespace s3bd::nbd
