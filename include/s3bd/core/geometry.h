// Volume geometry: parsing sizes from the command line, the volume metadata
// object that remembers size and block size in the store, and the rules for
// reconciling what the user asked for with what the store holds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

// The metadata text for a geometry and the volume's id, and its parser
// (throws StartupError on a malformed object: it is read from the store, so
// treated as hostile). The id is 32 lowercase hex digits, drawn at random
// when a volume is created (NewVolumeId) and never changed; it lets a cache
// file (--cache-file) recognise its volume. Volumes created before ids
// existed have none: their metadata has no "id" line and *id is set to "".
// `crc32c` ("checksum-crc32c 1") records that every object of the volume
// carries its CRC-32C (s3bd writes it on every PUT): volumes created from
// now on say so, and a block that then arrives without one is corrupt.
// Older volumes say nothing (*crc32c = false); a number, so that older
// versions of s3bd, which ignore unknown numeric keys, still mount it.
std::string EncodeVolumeMeta(const Geometry& g, const std::string& id = "", bool crc32c = false);
Geometry DecodeVolumeMeta(const std::string& text, std::string* id = nullptr, bool* crc32c = nullptr);
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
