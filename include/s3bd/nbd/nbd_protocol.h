// The NBD protocol's numbers and wire layouts (the "newstyle fixed"
// handshake and the transmission phase, with structured replies), as the
// NBD project's doc/proto.md defines them. Everything on the wire is
// big-endian; the helpers below read and write it from byte buffers, so no
// struct packing is involved.
//
// Handshake, server first:
//   S: "NBDMAGIC" (u64 kNbdMagic), "IHAVEOPT" (u64 kOptMagic), u16 handshake flags
//   C: u32 client flags
//   then options, each:
//   C: u64 kOptMagic, u32 option, u32 length, data
//   S: u64 kOptReplyMagic, u32 option, u32 reply type, u32 length, data (0 or more
//      replies; the last is an ACK or an error)
//   NBD_OPT_EXPORT_NAME has no reply: the server answers with u64 size,
//   u16 transmission flags and 124 zero bytes (none with NO_ZEROES).
// Transmission:
//   C: request  u32 kRequestMagic, u16 command flags, u16 type, u64 cookie,
//               u64 offset, u32 length  [+ length bytes for WRITE]
//   S: simple   u32 kSimpleReplyMagic, u32 error, u64 cookie [+ data for READ]
//   S: chunk    u32 kStructuredReplyMagic, u16 flags, u16 type, u64 cookie,
//               u32 length, payload (with structured replies negotiated)
#pragma once

#include <cstddef>
#include <cstdint>

namespace s3bd::nbd {

// Magic numbers.
inline constexpr std::uint64_t kNbdMagic = 0x4e42444d41474943ULL;  // "NBDMAGIC"
inline constexpr std::uint64_t kOptMagic = 0x49484156454f5054ULL;  // "IHAVEOPT"
inline constexpr std::uint64_t kOptReplyMagic = 0x0003e889045565a9ULL;
inline constexpr std::uint32_t kRequestMagic = 0x25609513;
inline constexpr std::uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr std::uint32_t kStructuredReplyMagic = 0x668e33ef;

// Handshake flags (server) and client flags.
inline constexpr std::uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr std::uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr std::uint32_t kClientFlagFixedNewstyle = 1 << 0;
inline constexpr std::uint32_t kClientFlagNoZeroes = 1 << 1;

// Options.
inline constexpr std::uint32_t kOptExportName = 1;
inline constexpr std::uint32_t kOptAbort = 2;
inline constexpr std::uint32_t kOptList = 3;
inline constexpr std::uint32_t kOptStartTls = 5;
inline constexpr std::uint32_t kOptInfo = 6;
inline constexpr std::uint32_t kOptGo = 7;
inline constexpr std::uint32_t kOptStructuredReply = 8;
inline constexpr std::uint32_t kOptListMetaContext = 9;
inline constexpr std::uint32_t kOptSetMetaContext = 10;

// Option reply types; errors have bit 31 set.
inline constexpr std::uint32_t kRepAck = 1;
inline constexpr std::uint32_t kRepServer = 2;
inline constexpr std::uint32_t kRepInfo = 3;
inline constexpr std::uint32_t kRepErrBit = 1u << 31;
inline constexpr std::uint32_t kRepErrUnsup = kRepErrBit | 1;
inline constexpr std::uint32_t kRepErrPolicy = kRepErrBit | 2;
inline constexpr std::uint32_t kRepErrInvalid = kRepErrBit | 3;
inline constexpr std::uint32_t kRepErrPlatform = kRepErrBit | 4;
inline constexpr std::uint32_t kRepErrTlsReqd = kRepErrBit | 5;
inline constexpr std::uint32_t kRepErrUnknown = kRepErrBit | 6;
inline constexpr std::uint32_t kRepErrShutdown = kRepErrBit | 7;
inline constexpr std::uint32_t kRepErrBlockSizeReqd = kRepErrBit | 8;
inline constexpr std::uint32_t kRepErrTooBig = kRepErrBit | 9;

// NBD_REP_INFO types (u16 at the start of the reply's data).
inline constexpr std::uint16_t kInfoExport = 0;       // u64 size, u16 transmission flags
inline constexpr std::uint16_t kInfoName = 1;         // the name
inline constexpr std::uint16_t kInfoDescription = 2;  // free text
inline constexpr std::uint16_t kInfoBlockSize = 3;    // u32 minimum, preferred, maximum

// Transmission flags.
inline constexpr std::uint16_t kTransHasFlags = 1 << 0;
inline constexpr std::uint16_t kTransReadOnly = 1 << 1;
inline constexpr std::uint16_t kTransSendFlush = 1 << 2;
inline constexpr std::uint16_t kTransSendFua = 1 << 3;
inline constexpr std::uint16_t kTransRotational = 1 << 4;
inline constexpr std::uint16_t kTransSendTrim = 1 << 5;
inline constexpr std::uint16_t kTransSendWriteZeroes = 1 << 6;
inline constexpr std::uint16_t kTransSendDf = 1 << 7;
inline constexpr std::uint16_t kTransCanMultiConn = 1 << 8;
inline constexpr std::uint16_t kTransSendResize = 1 << 9;
inline constexpr std::uint16_t kTransSendCache = 1 << 10;
inline constexpr std::uint16_t kTransSendFastZero = 1 << 11;

// Commands.
inline constexpr std::uint16_t kCmdRead = 0;
inline constexpr std::uint16_t kCmdWrite = 1;
inline constexpr std::uint16_t kCmdDisc = 2;
inline constexpr std::uint16_t kCmdFlush = 3;
inline constexpr std::uint16_t kCmdTrim = 4;
inline constexpr std::uint16_t kCmdCache = 5;
inline constexpr std::uint16_t kCmdWriteZeroes = 6;
inline constexpr std::uint16_t kCmdBlockStatus = 7;

// Command flags.
inline constexpr std::uint16_t kCmdFlagFua = 1 << 0;
inline constexpr std::uint16_t kCmdFlagNoHole = 1 << 1;
inline constexpr std::uint16_t kCmdFlagDf = 1 << 2;
inline constexpr std::uint16_t kCmdFlagReqOne = 1 << 3;
inline constexpr std::uint16_t kCmdFlagFastZero = 1 << 4;

// Structured reply chunks.
inline constexpr std::uint16_t kReplyFlagDone = 1 << 0;
inline constexpr std::uint16_t kReplyTypeNone = 0;
inline constexpr std::uint16_t kReplyTypeOffsetData = 1;  // u64 offset, data
inline constexpr std::uint16_t kReplyTypeOffsetHole = 2;  // u64 offset, u32 length
inline constexpr std::uint16_t kReplyTypeErrorBit = 1 << 15;
inline constexpr std::uint16_t kReplyTypeError = kReplyTypeErrorBit | 1;        // u32 error, u16 len, message
inline constexpr std::uint16_t kReplyTypeErrorOffset = kReplyTypeErrorBit | 2;  // ... and u64 offset

// Error values of replies (the protocol's own numbers; they happen to be
// Linux's errno values, but a server must send only these).
inline constexpr std::uint32_t kEperm = 1;
inline constexpr std::uint32_t kEio = 5;
inline constexpr std::uint32_t kEnomem = 12;
inline constexpr std::uint32_t kEinval = 22;
inline constexpr std::uint32_t kEnospc = 28;
inline constexpr std::uint32_t kEoverflow = 75;
inline constexpr std::uint32_t kEnotsup = 95;
inline constexpr std::uint32_t kEshutdown = 108;

// Sizes of the fixed parts.
inline constexpr std::size_t kOptionHeaderSize = 16;          // magic, option, length
inline constexpr std::size_t kOptionReplyHeaderSize = 20;     // magic, option, type, length
inline constexpr std::size_t kRequestSize = 28;
inline constexpr std::size_t kSimpleReplySize = 16;
inline constexpr std::size_t kStructuredReplyHeaderSize = 20;
inline constexpr std::size_t kExportNameZeroes = 124;

// Big-endian access to byte buffers.
inline void Put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void Put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}
inline void Put64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
inline std::uint16_t Get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
inline std::uint32_t Get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | p[i];
  return v;
}
inline std::uint64_t Get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

// A transmission request's header, decoded.
struct Request {
  std::uint16_t flags = 0;
  std::uint16_t type = 0;
  std::uint64_t cookie = 0;
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
};
// REQUIRES: p holds kRequestSize bytes. False if the magic is wrong.
inline bool DecodeRequest(const std::uint8_t* p, Request* r) {
  if (Get32(p) != kRequestMagic) return false;
  r->flags = Get16(p + 4);
  r->type = Get16(p + 6);
  r->cookie = Get64(p + 8);
  r->offset = Get64(p + 16);
  r->length = Get32(p + 24);
  return true;
}
inline void EncodeRequest(const Request& r, std::uint8_t* p) {
  Put32(p, kRequestMagic);
  Put16(p + 4, r.flags);
  Put16(p + 6, r.type);
  Put64(p + 8, r.cookie);
  Put64(p + 16, r.offset);
  Put32(p + 24, r.length);
}

// Names for logs and stats.
const char* CommandName(std::uint16_t type);
const char* OptionName(std::uint32_t option);

}  // namespace s3bd::nbd
