// Online resize: changes the number of blocks of a mounted volume.
//
// The commit point is one write of the volume metadata object
// (kVolumeMetaKey, core/geometry.h): everything before it changes nothing
// that outlives the process, everything after it only makes the running
// layers follow. So a crash at any point leaves the volume at the old or at
// the new size, never in between:
//
//   1. checks (not read-only, not an s3backer volume, a whole number of
//      blocks, not too large); waits for the block map's survey;
//   2. pauses the Volume's reads and writes (Volume::Exclusive());
//   3. shrinking only: flushes the cache to the store, then lists the blocks
//      that may hold data (BlockStore::ListNonZero of the top: the block
//      map, the cache's dirty blocks); any at or past the new end refuses
//      the shrink, and nothing has changed;
//   4. rewrites the metadata with the new size (everything else in it kept
//      as it was), conditional on the version just read: the commit;
//   5. BlockStore::Resize() of the stack: each layer follows, bottom up.
//      Growing, a crash before this step leaves a volume whose metadata says
//      the new size: the next mount uses it (new blocks read as zeros, as no
//      object lies past the end). Shrinking, nothing lies past the new end
//      (step 3, with writes paused), so the old blocks there are zeros too.
//
// Layers with state of their own follow in DoResize(): the codec (refuses
// the s3backer format), the block map (its page table), the cache (drops
// copies past the end; read-ahead and the cache file's saved map take the
// new count). The others (fences, faults, the consistency guard, whose
// remembered blocks past a new end are zeros; the directory, S3 and memory
// stores, which read geometry() when they list) only move their range.
//
// Errors (std::errc, turned into the ioctl's errno by the front end):
// read_only_file_system, operation_not_supported (s3backer format),
// invalid_argument (0 or not a whole number of blocks), file_too_large
// (past MaxVolumeSize, or past the block map's limit of a read-write mount),
// directory_not_empty (a block at or past the new end holds data), or the
// store's error of the flush, listing or metadata write.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "s3bd/core/stack.h"
#include "s3bd/volume/volume.h"

namespace s3bd {

// Resizes the volume of `stack` (which `volume` is over) to `new_size`
// bytes; on error `*why` (if not null) says why in one line. Thread-safe;
// resizes are serialised with each other and with the volume's I/O.
std::error_code ResizeVolume(Stack& stack, Volume& volume, std::uint64_t new_size, std::string* why = nullptr);

}  // namespace s3bd
