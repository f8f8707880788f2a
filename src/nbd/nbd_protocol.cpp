// Names of the protocol's numbers, for logs.
#include "s3bd/nbd/nbd_protocol.h"

namespace s3bd::nbd {

const char* CommandName(std::uint16_t type) {
  switch (type) {
    case kCmdRead: return "read";
    case kCmdWrite: return "write";
    case kCmdDisc: return "disc";
    case kCmdFlush: return "flush";
    case kCmdTrim: return "trim";
    case kCmdCache: return "cache";
    case kCmdWriteZeroes: return "write_zeroes";
    case kCmdBlockStatus: return "block_status";
    default: return "unknown";
  }
}

const char* OptionName(std::uint32_t option) {
  switch (option) {
    case kOptExportName: return "NBD_OPT_EXPORT_NAME";
    case kOptAbort: return "NBD_OPT_ABORT";
    case kOptList: return "NBD_OPT_LIST";
    case kOptStartTls: return "NBD_OPT_STARTTLS";
    case kOptInfo: return "NBD_OPT_INFO";
    case kOptGo: return "NBD_OPT_GO";
    case kOptStructuredReply: return "NBD_OPT_STRUCTURED_REPLY";
    case kOptListMetaContext: return "NBD_OPT_LIST_META_CONTEXT";
    case kOptSetMetaContext: return "NBD_OPT_SET_META_CONTEXT";
    default: return "unknown option";
  }
}

}  // namespace s3bd::nbd
