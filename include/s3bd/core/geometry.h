// Volume geometry: parsing sizes from the command line, the volume metadata
// object that remembers size and block size in the store, and the rules for
// reconciling what the user asked for with what the store holds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "s3bd/core/block_store.h"

namespace s3bd {

// Name of the metadata object holding the geometry.
inline constexpr const char* kVolumeMetaKey = "s3bd-volume";

// The largest size of anything: 2^63 - 1 bytes, the largest file size of
// Linux (MAX_LFS_FILESIZE; off_t is signed 64-bit).
inline constexpr std::uint64_t kMaxSize = (std::uint64_t{1} << 63) - 1;
// The largest volume of `block_size` blocks: 8 EiB minus one block.
std::uint64_t MaxVolumeSize(std::uint64_t block_size);

// "1G", "512M", "4096", "64K", "1T", "2GiB" (binary suffixes, case-insensitive).
// Throws UsageError naming `what` on anything else, zero, or more than kMaxSize.
std::uint64_t ParseSize(const std::string& text, const std::string& what);
// 1073741824 -> "1 GiB"; sizes that are not a whole unit print in bytes.
std::string FormatSize(std::uint64_t bytes);

// What the volume metadata object (kVolumeMetaKey) records.
//  - geometry: size and block size.
//  - id: 32 lowercase hex digits, drawn at random when a volume is created
//    (NewVolumeId) and never changed; it lets a cache file (--cache-file)
//    recognise its volume, and an encrypted volume binds it into every
//    block. Volumes created before ids existed have none ("").
//  - crc32c ("checksum-crc32c 1"): every object of the volume carries its
//    CRC-32C (s3bd writes it on every PUT); volumes created from now on say
//    so, and a block that then arrives without one is corrupt. Older volumes
//    say nothing (a number, so older versions of s3bd, which ignore unknown
//    numeric keys, still mount it).
//  - cipher and key_slots: an encrypted volume ("encryption aes-256-gcm"
//    and up to 8 "keyslot ..." lines, codec/key_slots.h). Its text starts
//    "s3bd-volume 2", which versions without encryption refuse.
//  - format: kS3backer for a volume that s3backer made (no s3bd-volume
//    object; stack.cpp recognises it), never written to the store; then
//    `cipher` is "s3backer AES-128-CBC" if it is encrypted, and id, crc32c
//    and key_slots are empty.
struct VolumeMeta {
  enum class Format { kS3bd, kS3backer };
  Format format = Format::kS3bd;
  Geometry geometry;
  std::string id;
  bool crc32c = false;
  std::string cipher;                  // "" = not encrypted
  std::vector<std::string> key_slots;  // FormatKeySlot() text, not yet parsed
  bool encrypted() const { return !cipher.empty(); }
};
inline constexpr std::size_t kMaxKeySlotLines = 8;
// The text, and its parser (throws StartupError on a malformed object: it is
// read from the store, so treated as hostile).
std::string EncodeVolumeMeta(const VolumeMeta& meta);
VolumeMeta DecodeVolumeMeta(const std::string& text);
// 128 random bits as 32 lowercase hex digits (from getrandom(2)).
std::string NewVolumeId();

struct GeometryDecision {
  Geometry geometry;
  bool write_meta = false;   // the store needs (new) metadata written
  bool shrinking = false;    // caller must check no data lies past the end
};

// Decides the geometry of a mount. `stored` is the store's metadata, if any.
// Throws StartupError with a one-line explanation when the request is
// invalid (UsageError: a bad --block-size, a --size that is too large or,
// for a new volume, not a whole number of blocks) or disagrees with the
// store (see the rules in geometry.cpp).
GeometryDecision DecideGeometry(const std::optional<Geometry>& stored,
                                std::optional<std::uint64_t> size,
                                std::optional<std::uint64_t> block_size, bool force,
                                bool read_only);

}  // namespace s3bd
