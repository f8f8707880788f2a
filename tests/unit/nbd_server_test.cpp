// The NBD server over a socketpair against a MemoryStore-backed Volume:
// a small client in this file speaks the protocol byte by byte, so every
// reply is checked as it is on the wire. Handshake variants (GO, INFO,
// EXPORT_NAME with and without NO_ZEROES, LIST, ABORT, unknown options,
// wrong names), every command in simple and structured replies, range and
// size errors, store errors, concurrency (requests of one connection run in
// parallel, proven by a gate that holds them), and clients that go away in
// the middle of a request.
#include "s3bd/nbd/nbd_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "gate_store.h"
#include "s3bd/store/fault_store.h"
#include "s3bd/store/memory_store.h"
#include "test_util.h"

namespace s3bd::nbd {
namespace {

constexpr Geometry kGeom{4096, 64};  // 256 KiB

// Polls `cond` until it holds or 30 s pass (a hung server fails the test
// instead of hanging it).
template <typename Fn>
bool WaitUntil(Fn&& cond) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::vector<std::uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

// The client end of the socketpair.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {
    // A server that does not answer fails the read instead of hanging.
    struct timeval tv = {30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  bool Send(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    while (n > 0) {
      const ssize_t w = ::send(fd_, b, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      b += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  bool Recv(void* p, std::size_t n) {
    auto* b = static_cast<std::uint8_t*>(p);
    while (n > 0) {
      const ssize_t r = ::recv(fd_, b, n, 0);
      if (r <= 0) return false;
      b += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  // True once the server has closed the connection: EOF, or a reset (a Unix
  // socket closed with bytes of ours still unread), and no more bytes.
  bool AtEof() {
    std::uint8_t c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // Reads the server's greeting; returns its handshake flags.
  std::optional<std::uint16_t> Hello() {
    std::uint8_t h[18];
    if (!Recv(h, sizeof h) || Get64(h) != kNbdMagic || Get64(h + 8) != kOptMagic) return std::nullopt;
    return Get16(h + 16);
  }
  bool ClientFlags(std::uint32_t f) {
    std::uint8_t b[4];
    Put32(b, f);
    return Send(b, 4);
  }
  // Greeting and client flags in one.
  void Start(std::uint32_t flags = kClientFlagFixedNewstyle | kClientFlagNoZeroes) {
    ASSERT_TRUE(Hello());
    ASSERT_TRUE(ClientFlags(flags));
  }

  bool Option(std::uint32_t option, const std::vector<std::uint8_t>& data = {}) {
    std::uint8_t h[16];
    Put64(h, kOptMagic);
    Put32(h + 8, option);
    Put32(h + 12, static_cast<std::uint32_t>(data.size()));
    return Send(h, sizeof h) && (data.empty() || Send(data.data(), data.size()));
  }
  struct OptReply {
    std::uint32_t option = 0, type = 0;
    std::vector<std::uint8_t> data;
  };
  std::optional<OptReply> ReadOptReply() {
    std::uint8_t h[20];
    if (!Recv(h, sizeof h) || Get64(h) != kOptReplyMagic) return std::nullopt;
    OptReply r;
    r.option = Get32(h + 8);
    r.type = Get32(h + 12);
    r.data.resize(Get32(h + 16));
    if (!r.data.empty() && !Recv(r.data.data(), r.data.size())) return std::nullopt;
    return r;
  }

  static std::vector<std::uint8_t> GoData(const std::string& name, const std::vector<std::uint16_t>& infos = {}) {
    std::vector<std::uint8_t> d(4 + name.size() + 2 + 2 * infos.size());
    Put32(d.data(), static_cast<std::uint32_t>(name.size()));
    std::memcpy(d.data() + 4, name.data(), name.size());
    Put16(d.data() + 4 + name.size(), static_cast<std::uint16_t>(infos.size()));
    for (std::size_t i = 0; i < infos.size(); ++i) Put16(d.data() + 6 + name.size() + 2 * i, infos[i]);
    return d;
  }
  struct GoResult {
    std::uint32_t final_type = 0;  // kRepAck or an error
    std::string error_text;
    bool got_export = false, got_block_size = false;
    std::uint64_t size = 0;
    std::uint16_t flags = 0;
    std::uint32_t min = 0, preferred = 0, max = 0;
    std::string name;
  };
  // NBD_OPT_GO (or INFO): reads the replies up to the ACK or an error.
  GoResult Go(const std::string& name, std::uint32_t option = kOptGo, const std::vector<std::uint16_t>& infos = {}) {
    GoResult g;
    EXPECT_TRUE(Option(option, GoData(name, infos)));
    for (;;) {
      auto r = ReadOptReply();
      if (!r) {
        ADD_FAILURE() << "no reply to " << OptionName(option);
        return g;
      }
      EXPECT_EQ(r->option, option);
      if (r->type != kRepInfo) {
        g.final_type = r->type;
        g.error_text.assign(r->data.begin(), r->data.end());
        return g;
      }
      const std::uint16_t t = Get16(r->data.data());
      if (t == kInfoExport && r->data.size() == 12) {
        g.got_export = true;
        g.size = Get64(r->data.data() + 2);
        g.flags = Get16(r->data.data() + 10);
      } else if (t == kInfoBlockSize && r->data.size() == 14) {
        g.got_block_size = true;
        g.min = Get32(r->data.data() + 2);
        g.preferred = Get32(r->data.data() + 6);
        g.max = Get32(r->data.data() + 10);
      } else if (t == kInfoName) {
        g.name.assign(r->data.begin() + 2, r->data.end());
      }
    }
  }

  bool Request(std::uint16_t type, std::uint64_t cookie, std::uint64_t offset, std::uint32_t length,
               std::uint16_t flags = 0, const std::vector<std::uint8_t>& payload = {}) {
    std::uint8_t h[kRequestSize];
    EncodeRequest({flags, type, cookie, offset, length}, h);
    return Send(h, sizeof h) && (payload.empty() || Send(payload.data(), payload.size()));
  }
  struct Reply {
    bool ok = false;  // read completely and well-formed
    std::uint64_t cookie = 0;
    std::uint32_t error = 0;
    std::vector<std::uint8_t> data;
    std::vector<std::uint16_t> chunk_types;  // structured
    std::string message;
    std::optional<std::uint64_t> error_offset;
  };
  // A simple reply; `data_len` bytes follow it if it is a successful READ's.
  Reply Simple(std::size_t data_len = 0) {
    Reply r;
    std::uint8_t h[16];
    if (!Recv(h, sizeof h) || Get32(h) != kSimpleReplyMagic) return r;
    r.error = Get32(h + 4);
    r.cookie = Get64(h + 8);
    if (r.error == 0 && data_len > 0) {
      r.data.resize(data_len);
      if (!Recv(r.data.data(), data_len)) return r;
    }
    r.ok = true;
    return r;
  }
  // The chunks of one structured reply, up to the one flagged DONE. READ
  // data is placed at its offset relative to `base` (holes are zeros).
  Reply Structured(std::uint64_t base = 0, std::size_t len = 0) {
    Reply r;
    r.data.assign(len, 0xee);
    for (;;) {
      std::uint8_t h[20];
      if (!Recv(h, sizeof h) || Get32(h) != kStructuredReplyMagic) return r;
      const std::uint16_t flags = Get16(h + 4), type = Get16(h + 6);
      r.cookie = Get64(h + 8);
      std::vector<std::uint8_t> p(Get32(h + 16));
      if (!p.empty() && !Recv(p.data(), p.size())) return r;
      r.chunk_types.push_back(type);
      if (type == kReplyTypeOffsetData) {
        const std::uint64_t at = Get64(p.data()) - base;
        if (at + p.size() - 8 > len) return r;
        std::memcpy(r.data.data() + at, p.data() + 8, p.size() - 8);
      } else if (type == kReplyTypeOffsetHole) {
        const std::uint64_t at = Get64(p.data()) - base;
        const std::uint32_t n = Get32(p.data() + 8);
        if (at + n > len) return r;
        std::memset(r.data.data() + at, 0, n);
      } else if (type & kReplyTypeErrorBit) {
        r.error = Get32(p.data());
        const std::uint16_t mlen = Get16(p.data() + 4);
        r.message.assign(p.begin() + 6, p.begin() + 6 + mlen);
        if (type == kReplyTypeErrorOffset) r.error_offset = Get64(p.data() + 6 + mlen);
      }
      if (flags & kReplyFlagDone) break;
    }
    r.ok = true;
    return r;
  }

 private:
  int fd_;
};

std::uint64_t FlushOps(BlockStore& s) {
  for (const StatsJson& layer : s.Stats()) return layer["ops"]["flush"]["ops"].get<std::uint64_t>();
  return 0;
}

class NbdServerTest : public ::testing::Test {
 protected:
  // The server over `top` (default: the memory store) on one end of a
  // socketpair, served on a thread; the client gets the other end.
  void StartServer(ServerOptions options = {}, BlockStore* top = nullptr) {
    volume_ = std::make_unique<Volume>(top ? *top : store_);
    server_ = std::make_unique<Server>(*volume_, options);
    Connect();
  }
  // Another connection to the same server.
  Client& Connect() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    threads_.emplace_back([this, fd = fds[0]] { server_->ServeConnection(UniqueFd(fd)); });
    clients_.push_back(std::make_unique<Client>(fds[1]));
    return *clients_.back();
  }
  Client& client() { return *clients_.front(); }
  // Negotiated and in transmission.
  void Transmit(bool structured, ServerOptions options = {}, BlockStore* top = nullptr) {
    StartServer(options, top);
    client().Start();
    if (structured) {
      ASSERT_TRUE(client().Option(kOptStructuredReply));
      auto r = client().ReadOptReply();
      ASSERT_TRUE(r);
      ASSERT_EQ(r->type, kRepAck);
    }
    ASSERT_EQ(client().Go("").final_type, kRepAck);
  }
  // The server thread of each connection ended (ServeConnection returned).
  void JoinServer() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  void TearDown() override {
    for (auto& c : clients_) c->Close();
    JoinServer();
  }

  MemoryStore store_{kGeom};
  std::unique_ptr<Volume> volume_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::thread> threads_;
};

// ---- handshake --------------------------------------------------------

TEST_F(NbdServerTest, GreetingOffersFixedNewstyleAndNoZeroes) {
  StartServer();
  auto flags = client().Hello();
  ASSERT_TRUE(flags);
  EXPECT_EQ(*flags, kFlagFixedNewstyle | kFlagNoZeroes);
}

TEST_F(NbdServerTest, GoReportsSizeFlagsAndBlockSizes) {
  StartServer();
  client().Start();
  auto g = client().Go("", kOptGo, {kInfoBlockSize, kInfoName});
  EXPECT_EQ(g.final_type, kRepAck);
  ASSERT_TRUE(g.got_export);
  EXPECT_EQ(g.size, kGeom.size());
  EXPECT_EQ(g.flags, kTransHasFlags | kTransSendFlush | kTransSendFua | kTransSendTrim | kTransSendWriteZeroes |
                         kTransCanMultiConn);
  ASSERT_TRUE(g.got_block_size);
  EXPECT_EQ(g.min, 1u);
  EXPECT_EQ(g.preferred, 4096u);
  EXPECT_EQ(g.max, 32u << 20);
  EXPECT_EQ(g.name, "");
  // In transmission now: a request is answered.
  ASSERT_TRUE(client().Request(kCmdRead, 1, 0, 16));
  auto r = client().Simple(16);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.data, std::vector<std::uint8_t>(16, 0));
}

TEST_F(NbdServerTest, BlockSizeIsSentUnaskedAndPreferredIsCappedAtMaximum) {
  ServerOptions o;
  o.max_payload = 1024;
  StartServer(o);
  client().Start();
  auto g = client().Go("");  // no information requests
  EXPECT_EQ(g.final_type, kRepAck);
  ASSERT_TRUE(g.got_block_size);
  EXPECT_EQ(g.preferred, 1024u);
  EXPECT_EQ(g.max, 1024u);
}

TEST_F(NbdServerTest, InfoDoesNotStartTransmissionAndGoFollows) {
  ServerOptions o;
  o.export_name = "vol";
  StartServer(o);
  client().Start();
  auto info = client().Go("vol", kOptInfo, {kInfoName});
  EXPECT_EQ(info.final_type, kRepAck);
  EXPECT_EQ(info.name, "vol");
  EXPECT_EQ(info.size, kGeom.size());
  // Still negotiating: another option is answered.
  auto go = client().Go("vol");
  EXPECT_EQ(go.final_type, kRepAck);
}

TEST_F(NbdServerTest, WrongExportNameIsUnknownAndTheConnectionGoesOn) {
  ServerOptions o;
  o.export_name = "vol";
  StartServer(o);
  client().Start();
  auto bad = client().Go("other");
  EXPECT_EQ(bad.final_type, kRepErrUnknown);
  EXPECT_NE(bad.error_text.find("no export named 'other'"), std::string::npos) << bad.error_text;
  EXPECT_FALSE(bad.got_export);
  // "" is always accepted, as the default name.
  EXPECT_EQ(client().Go("", kOptInfo).final_type, kRepAck);
  EXPECT_EQ(client().Go("vol").final_type, kRepAck);
}

TEST_F(NbdServerTest, ExportNameWithAndWithoutZeroes) {
  for (bool no_zeroes : {true, false}) {
    Client& c = clients_.empty() ? (StartServer(), client()) : Connect();
    c.Start(kClientFlagFixedNewstyle | (no_zeroes ? kClientFlagNoZeroes : 0));
    ASSERT_TRUE(c.Option(kOptExportName, {}));
    std::vector<std::uint8_t> reply(10 + (no_zeroes ? 0 : kExportNameZeroes));
    ASSERT_TRUE(c.Recv(reply.data(), reply.size()));
    EXPECT_EQ(Get64(reply.data()), kGeom.size());
    EXPECT_TRUE(Get16(reply.data() + 8) & kTransHasFlags);
    EXPECT_TRUE(std::all_of(reply.begin() + 10, reply.end(), [](auto b) { return b == 0; }));
    // Transmission: the next bytes are a reply to a request.
    ASSERT_TRUE(c.Request(kCmdFlush, 7, 0, 0));
    auto r = c.Simple();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.cookie, 7u);
    EXPECT_EQ(r.error, 0u);
  }
}

TEST_F(NbdServerTest, OldNewstyleClientGetsExportName) {
  StartServer();
  client().Start(0);  // neither fixed newstyle nor no zeroes
  ASSERT_TRUE(client().Option(kOptExportName, {}));
  std::vector<std::uint8_t> reply(10 + kExportNameZeroes);
  ASSERT_TRUE(client().Recv(reply.data(), reply.size()));
  EXPECT_EQ(Get64(reply.data()), kGeom.size());
}

TEST_F(NbdServerTest, WrongNameInExportNameClosesTheConnection) {
  StartServer();
  client().Start();
  ASSERT_TRUE(client().Option(kOptExportName, Bytes("nope")));
  EXPECT_TRUE(client().AtEof());
}

TEST_F(NbdServerTest, ListNamesTheExport) {
  ServerOptions o;
  o.export_name = "disk1";
  StartServer(o);
  client().Start();
  ASSERT_TRUE(client().Option(kOptList));
  auto server = client().ReadOptReply();
  ASSERT_TRUE(server);
  EXPECT_EQ(server->type, kRepServer);
  ASSERT_EQ(server->data.size(), 4u + 5);
  EXPECT_EQ(Get32(server->data.data()), 5u);
  EXPECT_EQ(std::string(server->data.begin() + 4, server->data.end()), "disk1");
  auto ack = client().ReadOptReply();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->type, kRepAck);
  // LIST takes no data.
  ASSERT_TRUE(client().Option(kOptList, Bytes("x")));
  auto bad = client().ReadOptReply();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->type, kRepErrInvalid);
}

TEST_F(NbdServerTest, AbortIsAcknowledgedThenClosed) {
  StartServer();
  client().Start();
  ASSERT_TRUE(client().Option(kOptAbort));
  auto ack = client().ReadOptReply();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->type, kRepAck);
  EXPECT_TRUE(client().AtEof());
}

TEST_F(NbdServerTest, UnknownOptionsAreUnsupported) {
  StartServer();
  client().Start();
  for (std::uint32_t opt : {kOptStartTls, kOptListMetaContext, kOptSetMetaContext, 42u}) {
    ASSERT_TRUE(client().Option(opt, Bytes("some data")));
    auto r = client().ReadOptReply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->option, opt);
    EXPECT_EQ(r->type, kRepErrUnsup);
  }
  EXPECT_EQ(client().Go("").final_type, kRepAck);
}

TEST_F(NbdServerTest, MalformedGoIsInvalid) {
  StartServer();
  client().Start();
  auto d = Client::GoData("", {kInfoBlockSize});
  d.pop_back();  // one byte short of its information request
  ASSERT_TRUE(client().Option(kOptGo, d));
  auto r = client().ReadOptReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, kRepErrInvalid);
  ASSERT_TRUE(client().Option(kOptStructuredReply, Bytes("x")));
  r = client().ReadOptReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, kRepErrInvalid);
}

TEST_F(NbdServerTest, UnknownClientFlagsOrBadMagicClose) {
  StartServer();
  ASSERT_TRUE(client().Hello());
  ASSERT_TRUE(client().ClientFlags(1u << 7));
  EXPECT_TRUE(client().AtEof());
  Client& c = Connect();
  c.Start();
  std::uint8_t junk[16] = {1, 2, 3};
  ASSERT_TRUE(c.Send(junk, sizeof junk));
  EXPECT_TRUE(c.AtEof());
}

TEST_F(NbdServerTest, ReadOnlyExport) {
  ServerOptions o;
  o.read_only = true;
  Transmit(false, o);
  Client& c = Connect();
  c.Start();
  auto g = c.Go("");
  EXPECT_EQ(g.flags, kTransHasFlags | kTransReadOnly | kTransCanMultiConn);
  ASSERT_TRUE(client().Request(kCmdWrite, 1, 0, 4, 0, {1, 2, 3, 4}));
  EXPECT_EQ(client().Simple().error, kEperm);
  ASSERT_TRUE(client().Request(kCmdTrim, 2, 0, 4096));
  EXPECT_EQ(client().Simple().error, kEperm);
  ASSERT_TRUE(client().Request(kCmdWriteZeroes, 3, 0, 4096));
  EXPECT_EQ(client().Simple().error, kEperm);
  ASSERT_TRUE(client().Request(kCmdFlush, 4, 0, 0));
  EXPECT_EQ(client().Simple().error, 0u);
  ASSERT_TRUE(client().Request(kCmdRead, 5, 0, 8));
  auto r = client().Simple(8);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.cookie, 5u);
}

// ---- commands, simple replies -------------------------------------------

TEST_F(NbdServerTest, WriteReadUnalignedAcrossBlocks) {
  Transmit(false);
  const auto data = test::RandomBytes(3 * 4096 + 123, 7);
  ASSERT_TRUE(client().Request(kCmdWrite, 0xabcdef0123456789ULL, 1000, data.size(), 0, data));
  auto w = client().Simple();
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.cookie, 0xabcdef0123456789ULL);
  EXPECT_EQ(w.error, 0u);
  ASSERT_TRUE(client().Request(kCmdRead, 2, 1000, data.size()));
  auto r = client().Simple(data.size());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.data, data);
  // And through the Volume directly.
  std::vector<std::uint8_t> back(data.size());
  std::size_t done = 0;
  ASSERT_FALSE(volume_->Read(1000, back, done));
  EXPECT_EQ(back, data);
}

TEST_F(NbdServerTest, FlushAndFuaFlushTheStore) {
  Transmit(false);
  const std::uint64_t f0 = FlushOps(store_);
  ASSERT_TRUE(client().Request(kCmdWrite, 1, 0, 4096, 0, test::RandomBytes(4096, 1)));
  EXPECT_EQ(client().Simple().error, 0u);
  EXPECT_EQ(FlushOps(store_), f0);  // a plain write does not flush
  ASSERT_TRUE(client().Request(kCmdFlush, 2, 0, 0));
  EXPECT_EQ(client().Simple().error, 0u);
  EXPECT_EQ(FlushOps(store_), f0 + 1);
  ASSERT_TRUE(client().Request(kCmdWrite, 3, 4096, 4096, kCmdFlagFua, test::RandomBytes(4096, 2)));
  EXPECT_EQ(client().Simple().error, 0u);
  EXPECT_EQ(FlushOps(store_), f0 + 2);
  ASSERT_TRUE(client().Request(kCmdWriteZeroes, 4, 0, 4096, kCmdFlagFua));
  EXPECT_EQ(client().Simple().error, 0u);
  EXPECT_EQ(FlushOps(store_), f0 + 3);
}

TEST_F(NbdServerTest, TrimAndWriteZeroesZeroAndFreeWholeBlocks) {
  Transmit(false);
  const auto data = test::RandomBytes(8 * 4096, 3);
  ASSERT_TRUE(client().Request(kCmdWrite, 1, 0, data.size(), 0, data));
  EXPECT_EQ(client().Simple().error, 0u);
  ASSERT_EQ(store_.StoredBlocks(), 8u);
  // Trim blocks 1-2 whole and half of block 3: 2 blocks freed, the half zeroed.
  ASSERT_TRUE(client().Request(kCmdTrim, 2, 4096, 2 * 4096 + 2048));
  EXPECT_EQ(client().Simple().error, 0u);
  EXPECT_EQ(store_.StoredBlocks(), 6u);
  // Zero blocks 5-6, NO_HOLE: still zeroed (and freed).
  ASSERT_TRUE(client().Request(kCmdWriteZeroes, 3, 5 * 4096, 2 * 4096, kCmdFlagNoHole));
  EXPECT_EQ(client().Simple().error, 0u);
  EXPECT_EQ(store_.StoredBlocks(), 4u);
  auto want = data;
  std::fill(want.begin() + 4096, want.begin() + 3 * 4096 + 2048, 0);
  std::fill(want.begin() + 5 * 4096, want.begin() + 7 * 4096, 0);
  ASSERT_TRUE(client().Request(kCmdRead, 4, 0, want.size()));
  auto r = client().Simple(want.size());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.data, want);
}

TEST_F(NbdServerTest, RangeErrors) {
  Transmit(false);
  const std::uint64_t size = kGeom.size();
  struct Case {
    std::uint16_t type;
    std::uint64_t offset;
    std::uint32_t length;
    std::uint32_t error;
  };
  const Case cases[] = {
      {kCmdRead, size - 10, 11, kEinval},
      {kCmdRead, size + 1, 0, kEinval},
      {kCmdRead, ~0ULL - 5, 100, kEinval},  // offset + length overflows
      {kCmdTrim, size - 4096, 8192, kEinval},
      {kCmdWriteZeroes, size, 1, kEnospc},
      {kCmdWrite, size - 1, 2, kEnospc},
      {kCmdRead, size - 10, 10, 0},  // up to the end is fine
  };
  std::uint64_t cookie = 100;
  for (const Case& c : cases) {
    std::vector<std::uint8_t> payload;
    if (c.type == kCmdWrite) payload.assign(c.length, 9);
    ASSERT_TRUE(client().Request(c.type, ++cookie, c.offset, c.length, 0, payload));
    auto r = client().Simple(c.error == 0 && c.type == kCmdRead ? c.length : 0);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.cookie, cookie);
    EXPECT_EQ(r.error, c.error) << CommandName(c.type) << " " << c.length << " at " << c.offset;
  }
  EXPECT_EQ(store_.StoredBlocks(), 0u);  // nothing was written
}

TEST_F(NbdServerTest, OversizedRequestsFailAndTheConnectionStaysInStep) {
  ServerOptions o;
  o.max_payload = 8192;
  Transmit(false, o);
  ASSERT_TRUE(client().Request(kCmdRead, 1, 0, 8193));
  EXPECT_EQ(client().Simple().error, kEinval);
  // The payload of an oversized write is read and dropped.
  ASSERT_TRUE(client().Request(kCmdWrite, 2, 0, 8193, 0, std::vector<std::uint8_t>(8193, 5)));
  EXPECT_EQ(client().Simple().error, kEinval);
  EXPECT_EQ(store_.StoredBlocks(), 0u);
  // Trim and zeroing carry no payload: any length inside the volume.
  ASSERT_TRUE(client().Request(kCmdWriteZeroes, 3, 0, kGeom.size()));
  EXPECT_EQ(client().Simple().error, 0u);
  ASSERT_TRUE(client().Request(kCmdRead, 4, 0, 8192));
  auto r = client().Simple(8192);
  EXPECT_EQ(r.cookie, 4u);
  EXPECT_EQ(r.error, 0u);
}

TEST_F(NbdServerTest, UnknownCommandsAndFlagsAreInvalid) {
  Transmit(false);
  ASSERT_TRUE(client().Request(99, 1, 0, 0));
  EXPECT_EQ(client().Simple().error, kEinval);
  ASSERT_TRUE(client().Request(kCmdBlockStatus, 2, 0, 4096));
  EXPECT_EQ(client().Simple().error, kEinval);
  ASSERT_TRUE(client().Request(kCmdRead, 3, 0, 4096, 1 << 9));
  EXPECT_EQ(client().Simple().error, kEinval);
  // DF needs structured replies.
  ASSERT_TRUE(client().Request(kCmdRead, 4, 0, 4096, kCmdFlagDf));
  EXPECT_EQ(client().Simple().error, kEinval);
  // FAST_ZERO is not offered.
  ASSERT_TRUE(client().Request(kCmdWriteZeroes, 5, 0, 4096, kCmdFlagFastZero));
  EXPECT_EQ(client().Simple().error, kEinval);
  ASSERT_TRUE(client().Request(kCmdFlush, 6, 0, 0));
  EXPECT_EQ(client().Simple().error, 0u);
}

TEST_F(NbdServerTest, StoreErrorsBecomeEio) {
  FaultStore faults(std::make_unique<MemoryStore>(kGeom), FaultSpec{.read = 1, .flush = 1});
  Transmit(false, {}, &faults);
  ASSERT_TRUE(client().Request(kCmdRead, 1, 0, 4096));
  EXPECT_EQ(client().Simple().error, kEio);
  ASSERT_TRUE(client().Request(kCmdFlush, 2, 0, 0));
  EXPECT_EQ(client().Simple().error, kEio);
  // A partial-block write reads the block first, which fails.
  ASSERT_TRUE(client().Request(kCmdWrite, 3, 10, 10, 0, std::vector<std::uint8_t>(10, 1)));
  EXPECT_EQ(client().Simple().error, kEio);
  EXPECT_EQ(server_->Stats()["errors_returned"].get<std::uint64_t>(), 3u);
}

TEST(NbdErrors, ToNbdErrorMapsEveryKindOnce) {
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::io_error)), kEio);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::read_only_file_system)), kEperm);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::permission_denied)), kEperm);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::file_too_large)), kEnospc);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::no_space_on_device)), kEnospc);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::not_enough_memory)), kEnomem);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::invalid_argument)), kEinval);
  EXPECT_EQ(ToNbdError(std::make_error_code(std::errc::timed_out)), kEio);
  EXPECT_EQ(ToNbdError(Errc::kCorruptBlock), kEio);
  EXPECT_EQ(ToNbdError(Errc::kAccessDenied), kEperm);
  EXPECT_EQ(ToNbdError(Errc::kStoreUnavailable), kEio);
}

// ---- structured replies ---------------------------------------------------

TEST_F(NbdServerTest, StructuredReplies) {
  Transmit(true);
  Client& c = Connect();
  c.Start();
  ASSERT_TRUE(c.Option(kOptStructuredReply));
  ASSERT_EQ(c.ReadOptReply()->type, kRepAck);
  EXPECT_TRUE(c.Go("").flags & kTransSendDf);

  const auto data = test::RandomBytes(5000, 11);
  ASSERT_TRUE(client().Request(kCmdWrite, 1, 300, data.size(), 0, data));
  auto w = client().Structured();
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.chunk_types, std::vector<std::uint16_t>{kReplyTypeNone});
  EXPECT_EQ(w.error, 0u);

  ASSERT_TRUE(client().Request(kCmdRead, 2, 300, data.size(), kCmdFlagDf));
  auto r = client().Structured(300, data.size());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.cookie, 2u);
  EXPECT_EQ(r.chunk_types, std::vector<std::uint16_t>{kReplyTypeOffsetData});
  EXPECT_EQ(r.data, data);

  // All zeros: a hole.
  ASSERT_TRUE(client().Request(kCmdRead, 3, 40 * 4096, 3 * 4096));
  auto h = client().Structured(40 * 4096, 3 * 4096);
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.chunk_types, std::vector<std::uint16_t>{kReplyTypeOffsetHole});
  EXPECT_EQ(h.data, std::vector<std::uint8_t>(3 * 4096, 0));

  // An error carries its text.
  ASSERT_TRUE(client().Request(kCmdRead, 4, kGeom.size() - 1, 2));
  auto e = client().Structured();
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.chunk_types, std::vector<std::uint16_t>{kReplyTypeError});
  EXPECT_EQ(e.error, kEinval);
  EXPECT_NE(e.message.find("past the end"), std::string::npos) << e.message;

  ASSERT_TRUE(client().Request(kCmdFlush, 5, 0, 0));
  EXPECT_EQ(client().Structured().chunk_types, std::vector<std::uint16_t>{kReplyTypeNone});
  EXPECT_EQ(server_->Stats()["structured_replies"].get<std::uint64_t>(), 2u);
}

TEST_F(NbdServerTest, StructuredReadErrorNamesTheOffset) {
  FaultStore faults(std::make_unique<MemoryStore>(kGeom), FaultSpec{.read = 1});
  Transmit(true, {}, &faults);
  ASSERT_TRUE(client().Request(kCmdRead, 1, 4096 + 17, 100));
  auto r = client().Structured();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.chunk_types, std::vector<std::uint16_t>{kReplyTypeErrorOffset});
  EXPECT_EQ(r.error, kEio);
  ASSERT_TRUE(r.error_offset);
  EXPECT_EQ(*r.error_offset, 4096u + 17);
}

// ---- concurrency, disconnects, shutdown -------------------------------------

TEST_F(NbdServerTest, RequestsOfOneConnectionRunInParallel) {
  test::GateStore gate(std::make_unique<MemoryStore>(kGeom));
  ServerOptions o;
  o.workers = 4;
  Transmit(false, o, &gate);
  gate.CloseReads();
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(client().Request(kCmdRead, 10 + i, i * 4096, 4096));
  // All four are inside the store at once: four workers run them.
  ASSERT_TRUE(WaitUntil([&] { return gate.reading() >= 4; })) << gate.reading() << " reads in the store";
  gate.OpenReads();
  std::set<std::uint64_t> cookies;
  for (int i = 0; i < 4; ++i) {
    auto r = client().Simple(4096);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, 0u);
    cookies.insert(r.cookie);
  }
  EXPECT_EQ(cookies, (std::set<std::uint64_t>{10, 11, 12, 13}));
}

TEST_F(NbdServerTest, PipelinedRequestsGetTheirOwnReplies) {
  Transmit(false);
  constexpr int kN = 64;
  std::vector<std::vector<std::uint8_t>> data;
  for (int i = 0; i < kN; ++i) {
    data.push_back(test::RandomBytes(4096, 100 + i));
    ASSERT_TRUE(client().Request(kCmdWrite, 1000 + i, static_cast<std::uint64_t>(i) * 4096, 4096, 0, data.back()));
  }
  std::set<std::uint64_t> acked;
  for (int i = 0; i < kN; ++i) {
    auto r = client().Simple();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, 0u);
    acked.insert(r.cookie);
  }
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(client().Request(kCmdRead, i, static_cast<std::uint64_t>(i) * 4096, 4096));
    auto r = client().Simple(4096);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.data, data[r.cookie]);
  }
}

TEST_F(NbdServerTest, TwoConnectionsShareTheVolume) {
  Transmit(false);
  Client& other = Connect();
  other.Start();
  ASSERT_EQ(other.Go("").final_type, kRepAck);
  const auto data = test::RandomBytes(4096, 5);
  ASSERT_TRUE(client().Request(kCmdWrite, 1, 8192, 4096, 0, data));
  EXPECT_EQ(client().Simple().error, 0u);
  ASSERT_TRUE(other.Request(kCmdRead, 2, 8192, 4096));
  EXPECT_EQ(other.Simple(4096).data, data);
  EXPECT_EQ(server_->Stats()["active_connections"].get<std::uint64_t>(), 2u);
}

TEST_F(NbdServerTest, DiscFinishesWhatWasReadAndCloses) {
  test::GateStore gate(std::make_unique<MemoryStore>(kGeom));
  Transmit(false, {}, &gate);
  gate.Close();  // writes wait
  ASSERT_TRUE(client().Request(kCmdWrite, 1, 0, 4096, 0, test::RandomBytes(4096, 9)));
  gate.WaitForWaiting(1);
  ASSERT_TRUE(client().Request(kCmdDisc, 2, 0, 0));
  gate.Open();
  // The write is answered, then the connection ends.
  auto r = client().Simple();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.cookie, 1u);
  EXPECT_EQ(r.error, 0u);
  EXPECT_TRUE(client().AtEof());
  JoinServer();
  EXPECT_EQ(gate.Stats().front()["ops"]["write"]["ops"].get<std::uint64_t>(), 1u);
}

TEST_F(NbdServerTest, ClientGoneWhileARequestRuns) {
  test::GateStore gate(std::make_unique<MemoryStore>(kGeom));
  Transmit(true, {}, &gate);
  gate.CloseReads();
  ASSERT_TRUE(client().Request(kCmdRead, 1, 0, 4096));
  gate.WaitForReading(1);
  client().Close();
  gate.OpenReads();
  // The read finishes, its reply goes nowhere, and the connection ends.
  JoinServer();
  EXPECT_EQ(server_->Stats()["active_connections"].get<std::uint64_t>(), 0u);
  // The server still serves others.
  Client& c = Connect();
  c.Start();
  EXPECT_EQ(c.Go("").final_type, kRepAck);
}

TEST_F(NbdServerTest, ClientGoneInTheMiddleOfAPayload) {
  Transmit(false);
  std::uint8_t h[kRequestSize];
  EncodeRequest({0, kCmdWrite, 1, 0, 4096}, h);
  ASSERT_TRUE(client().Send(h, sizeof h));
  std::vector<std::uint8_t> part(100, 1);
  ASSERT_TRUE(client().Send(part.data(), part.size()));
  client().Close();
  JoinServer();
  EXPECT_EQ(store_.StoredBlocks(), 0u);  // a half-sent write is never done
  // And in the middle of a request header, and of an option.
  Client& c = Connect();
  c.Start();
  ASSERT_TRUE(c.Send("\x49\x48\x41", 3));
  c.Close();
  JoinServer();
}

TEST_F(NbdServerTest, ShutdownEndsIdleAndNegotiatingConnections) {
  Transmit(false);
  Client& negotiating = Connect();
  negotiating.Start();
  server_->Shutdown();
  JoinServer();
  EXPECT_TRUE(client().AtEof());
  EXPECT_TRUE(negotiating.AtEof());
  // A client that connects now is turned away.
  Client& late = Connect();
  JoinServer();
  EXPECT_FALSE(late.Hello());
}

}  // namespace
}  // namespace s3bd::nbd
