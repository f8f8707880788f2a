// Sizes, the volume metadata object, and geometry reconciliation.
//
// Rules of DecideGeometry:
//  - New store (no metadata): --size is required; block size is --block-size
//    or 1 MiB; the size must be a whole number of blocks; the metadata is
//    written once the mount is live.
//  - Existing store: size and block size come from the metadata. An explicit
//    --block-size that differs is always refused (every block would move).
//    An explicit --size that differs is refused unless --force: growing is
//    then safe (new blocks read as zeros); shrinking is allowed only if no
//    block past the new end holds data, which the caller checks.
//  - No volume is larger than MaxVolumeSize(block size): 8 EiB minus one
//    block, the largest whole number of blocks that fits in off_t (the
//    kernel's largest file, MAX_LFS_FILESIZE = 2^63 - 1, is the disk file's
//    limit, and so a loop device's).
#include "s3bd/core/geometry.h"

#include <sys/random.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "s3bd/core/config.h"
#include "s3bd/core/errors.h"

namespace s3bd {

namespace {

bool IsPowerOfTwo(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

void CheckBlockSize(std::uint64_t bs) {
  if (!IsPowerOfTwo(bs) || bs < kMinBlockSize || bs > kMaxBlockSize) {
    throw UsageError(fmt::format(
        "invalid block size {}: must be a power of two between 4K and 64M", bs));
  }
}

// A whole number of blocks is at most MaxVolumeSize (ParseSize already
// refuses anything above kMaxSize; this guards every other caller).
void CheckVolumeSize(std::uint64_t size, std::uint64_t bs) {
  if (size > MaxVolumeSize(bs)) {
    throw UsageError(fmt::format("size {} is too large: the largest volume of {} blocks is {} bytes (8 EiB - 1 block)",
                                 size, FormatSize(bs), MaxVolumeSize(bs)));
  }
}

}  // namespace

std::uint64_t MaxVolumeSize(std::uint64_t block_size) { return kMaxSize / block_size * block_size; }

std::uint64_t ParseSize(const std::string& text, const std::string& what) {
  const auto bad = [&](const std::string& why) {
    return UsageError(fmt::format("invalid {} '{}': {}", what, text, why));
  };
  const std::string too_large =
      fmt::format("too large: at most 8 EiB - 1 byte ({}), the largest file size of Linux", kMaxSize);
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) throw bad("expected a number with an optional K, M, G, T or P suffix");
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (ec != std::errc() || ptr != text.data() + i) throw bad(too_large);
  std::string suffix = text.substr(i);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  unsigned shift = 0;
  if (!suffix.empty()) {
    static const std::string kUnits = "KMGTP";
    const auto pos = kUnits.find(suffix[0]);
    const std::string rest = suffix.substr(1);
    if (pos == std::string::npos || !(rest.empty() || rest == "B" || rest == "IB")) {
      throw bad("unknown suffix (use K, M, G, T or P, binary)");
    }
    shift = 10 * static_cast<unsigned>(pos + 1);
  } 
  if (value == 0) throw bad("must not be zero");
  if (value > (kMaxSize >> shift)) throw bad(too_large);
  return value << shift;
}

std::string FormatSize(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  unsigned u = 0;
  while (u < 6 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++u;
  }
  return fmt::format("{} {}", bytes, kUnits[u]);
}

std::string EncodeVolumeMeta(const VolumeMeta& m) {
  std::string text = fmt::format("s3bd-volume {}\nsize {}\nblock-size {}\n", m.encrypted() ? 2 : 1,
                                 m.geometry.size(), m.geometry.block_size);
  if (!m.id.empty()) text += fmt::format("id {}\n", m.id);
  if (m.crc32c) text += "checksum-crc32c 1\n";
  if (m.encrypted()) {
    text += fmt::format("encryption {}\n", m.cipher);
    for (const std::string& slot : m.key_slots) text += fmt::format("keyslot {}\n", slot);
  }
  return text;
}

std::string NewVolumeId() {
  std::array<std::uint8_t, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw StartupError(fmt::format("getrandom: {}", std::strerror(errno)));
    }
    got += static_cast<std::size_t>(n);
  }
  std::string hex;
  for (std::uint8_t b : bytes) hex += fmt::format("{:02x}", b);
  return hex;
}

VolumeMeta DecodeVolumeMeta(const std::string& text) {
  const auto bad = [](const std::string& why) {
    return StartupError("the store's volume metadata (" + std::string(kVolumeMetaKey) +
                        ") is damaged: " + why);
  };
  if (text.size() > 4096) throw bad("too large");
  std::istringstream in(text);
  std::string line;
  // Version 2 is an encrypted volume: s3bd versions that do not know
  // encryption refuse it instead of reading ciphertext as data.
  if (!std::getline(in, line) || (line != "s3bd-volume 1" && line != "s3bd-volume 2")) {
    throw bad("unknown format or version");
  }
  const bool v2 = line == "s3bd-volume 2";
  std::optional<std::uint64_t> size, bs;
  VolumeMeta m;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto sp = line.find(' ');
    if (sp == std::string::npos) throw bad("malformed line");
    const std::string key = line.substr(0, sp), val = line.substr(sp + 1);
    if (key == "id") {
      const bool hex = val.size() == 32 && val.find_first_not_of("0123456789abcdef") == std::string::npos;
      if (!hex) throw bad("bad volume id");
      m.id = val;
      continue;
    }
    if (key == "encryption") {
      if (!v2 || val != "aes-256-gcm" || !m.cipher.empty()) throw bad("bad encryption line");
      m.cipher = val;
      continue;
    }
    if (key == "keyslot") {
      // Parsed (as hostile) by the key slots' own parser, at unlock.
      if (!v2 || m.key_slots.size() == kMaxKeySlotLines) throw bad("bad or too many keyslot lines");
      m.key_slots.push_back(val);
      continue;
    }
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
    if (ec != std::errc() || ptr != val.data() + val.size()) throw bad("bad number for " + key);
    if (key == "size") {
      size = v;
    } else if (key == "block-size") {
      bs = v;
    } else if (key == "checksum-crc32c") {
      if (v > 1) throw bad("bad value for checksum-crc32c");
      m.crc32c = v == 1;
    }  // unknown keys are ignored: newer versions may add some
  }
  if (!size || !bs) throw bad("size or block-size missing");
  if (!IsPowerOfTwo(*bs) || *bs < kMinBlockSize || *bs > kMaxBlockSize || *size == 0 ||
      *size % *bs != 0) {
    throw bad("impossible geometry");
  }
  if (*size > kMaxSize) throw bad(fmt::format("size {} is more than the largest possible, {}", *size, kMaxSize));
  if (v2 && (m.cipher.empty() || m.key_slots.empty() || m.id.empty())) {
    throw bad("an encrypted volume needs its id, encryption and keyslot lines");
  }
  m.geometry = Geometry{*bs, *size / *bs};
  return m;
}

GeometryDecision DecideGeometry(const std::optional<Geometry>& stored,
                                std::optional<std::uint64_t> size,
                                std::optional<std::uint64_t> block_size, bool force,
                                bool read_only) {
  if (block_size) CheckBlockSize(*block_size);
  GeometryDecision d;
  if (!stored) {
    if (read_only) throw StartupError("the store holds no volume yet; a read-only mount cannot create one");
    if (!size) throw StartupError("the store holds no volume yet: give its size with --size (e.g. --size 1G)");
    const std::uint64_t bs = block_size.value_or(kDefaultBlockSize);
    if (*size % bs != 0) {
      throw UsageError(fmt::format("size {} is not a whole number of {} blocks",
                                     FormatSize(*size), FormatSize(bs)));
    }
    d.geometry = Geometry{bs, *size / bs};
    d.write_meta = true;
    CheckVolumeSize(*size, bs);
    return d;
  }
  d.geometry = *stored;
  if (block_size && *block_size != stored->block_size) {
    throw StartupError(fmt::format(
        "block size {} disagrees with the store's block size {}; omit --block-size to use it",
        FormatSize(*block_size), FormatSize(stored->block_size)));
  }
  if (size && *size != stored->size()) {
    if (!force) {
      throw StartupError(fmt::format(
          "size {} disagrees with the store's size {}; omit --size to use it, or add --force to resize",
          FormatSize(*size), FormatSize(stored->size())));
    }
    if (read_only) throw StartupError("cannot resize a volume on a read-only mount");
    if (*size % stored->block_size != 0) {
      throw StartupError(fmt::format("size {} is not a whole number of {} blocks",
                                     FormatSize(*size), FormatSize(stored->block_size)));
    }
    CheckVolumeSize(*size, stored->block_size);
    d.geometry.num_blocks = *size / stored->block_size;
    d.write_meta = true;
    d.shrinking = *size < stored->size();
  }
  return d;
}

}  // namespace s3bd
