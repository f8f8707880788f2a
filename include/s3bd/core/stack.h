// The composition root: the one place that turns a StoreConfig into the
// stack of layers. See stack.cpp for the order of the layers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <string>

#include "s3bd/codec/block_codec.h"
#include "s3bd/codec/key_slots.h"
#include "s3bd/core/block_store.h"
#include "s3bd/core/geometry.h"
#include "s3bd/core/config.h"
#include "s3bd/core/meta_store.h"

namespace s3bd {

class BlockCache;
class BlockMapStore;
class CacheFile;
class Fence;
class ForeignMountFlag;
class Lease;

struct Stack {
  std::shared_ptr<MetaStore> meta;   // the bottom store's metadata objects
  std::unique_ptr<BlockStore> top;   // the layer the Volume talks to
  std::string pending_meta;          // geometry metadata to write, if any
  // With config.fenced: the switch of the FencedStore layers, closed (uploads
  // wait) until the owner holds the lease and opens it.
  std::shared_ptr<Fence> fence;
  std::string cache_file_id;         // the cache file's id (16 hex digits), if any
  std::string cache_file;            // its path
  // An s3backer volume mounted read-write: s3backer's mount token, for the
  // lease to honour (volume/lease.h); null otherwise.
  std::shared_ptr<ForeignMountFlag> foreign_flag;
  CacheFile* file = nullptr;         // the cache file itself (owned by the cache layer), if any
  // The block map layer in `top` (read-write mounts), and how it is
  // surveyed (SurveyBlocksFirst(), StartSurvey()): in the background (an existing volume), or before the mount
  // goes live (a store without volume metadata; with --list-blocks, where a
  // failure refuses the mount).
  BlockMapStore* map = nullptr;
  enum class Survey { kBackground, kFirst, kFirstRequired } survey = Survey::kBackground;
  bool read_only = false;  // config.read_only
  bool s3backer = false;   // an s3backer-format volume (no s3bd-volume object; never resized)
};

// Opens the store, decides the geometry (geometry.h) and builds the layers.
// Writes nothing to the store (the lease is the owner's: mount_command.cpp). Throws StartupError with a one-line message.
Stack BuildStack(const StoreConfig& config);

// The block map's survey (map/block_map.h), in two steps, both only once the
// volume's lease is held (before, another mount may still be uploading):
// SurveyBlocksFirst() runs it now, before the mount goes live, if
// stack.survey says so (throws StartupError if a --list-blocks survey
// fails); StartSurvey() starts it in the background otherwise. Call
// StartSurvey() only once the daemon's logging is set up for good (after it
// detached): the survey thread logs. Nothing to do without a map.
void SurveyBlocksFirst(Stack& stack);
void StartSurvey(Stack& stack);

// The block map saved in the cache file (map/block_map.h, "Saved map", for
// the trust rule). Nothing to do without a map layer or a cache file.
// UseSavedMap(): once the lease is held and before the fence opens (so
// before this mount can change the volume): loads the saved map into the
// map layer if the lease vouches for it (S2; the survey is then not
// needed), else leaves the map to the survey; in every case forgets it in
// the file (S4). Logs why a saved map is not used.
// SaveMap(): at a clean unmount, after the final flush succeeded and before
// the lease is released, on the thread that called StartSurvey(): waits for
// a survey still running, then saves the map if it is complete, stamped with
// the lease's mount id (S1). True if saved: then release with
// Release(true). Nothing is saved for a lease that is not held (fenced) or
// best-effort (S3), nor for an s3backer volume (S6: s3backer writes it
// without our lease).
void UseSavedMap(Stack& stack, const Lease& lease);
bool SaveMap(Stack& stack, const Lease& lease);

// Records a new or resized volume's geometry in the store. Called once the
// mount is live, so a mount that fails leaves a new store untouched.
void CommitGeometry(Stack& stack);

// An existing volume opened for the admin commands (`s3bd info`): its
// metadata and its bottom block store, no other layer. Opens the store as
// config.read_only says; writes nothing. Throws StartupError (also when the
// store holds no volume: "... holds no s3bd volume").
//
// The objects themselves, for `s3bd verify` and `s3bd erase`: named as the
// user sees them (the S3 key, with the prefix; the directory store's file
// name). A metadata object's name is `meta_prefix` + its MetaStore key.
struct StoredObject {
  std::string name;
  std::uint64_t size = 0;
  bool regular = true;  // false: not a regular file (a directory store's subdirectory)
};
struct OpenedVolume {
  VolumeMeta volume;     // geometry, id, checksums, encryption (geometry.h)
  std::shared_ptr<MetaStore> meta;
  std::unique_ptr<BlockStore> store;

  std::string meta_prefix;  // S3: the key prefix; directory: ""
  unsigned parallel = 16;   // requests worth running at once (S3: --connections)
  // Every object under the prefix (S3, a parallel listing) or in the
  // directory; `fn` is called from one thread.
  std::function<std::error_code(const std::function<void(const StoredObject&)>& fn, std::string* detail)> list;
  // The block number of an object's name in this store's layout.
  std::function<std::optional<BlockNum>(std::string_view name)> parse_block;
  // Deletes objects by name (S3: one DeleteObjects per 1000); thread-safe.
  std::function<std::error_code(std::span<const std::string> names, std::string* detail)> remove;
};
// `unlock`: an encrypted volume's data key is unlocked (the passphrase from
// config.codec, as a mount reads it), so that `store` decodes its blocks
// (`s3bd verify`); otherwise its blocks cannot be read.
OpenedVolume OpenVolume(const StoreConfig& config, bool unlock = false);

// The data key of an encrypted volume, from its key slots and the
// passphrase (--passphrase-file `passphrase_file`, S3BD_PASSPHRASE_FILE or a
// prompt), with the parsed slots and the id of the one that opened. Throws
// StartupError: "wrong passphrase for URL", damaged slots.
struct UnlockedVolume {
  std::shared_ptr<const codec::DataKey> key;
  std::vector<codec::KeySlot> slots;
  std::uint32_t slot = 0;
};
UnlockedVolume UnlockVolume(const std::string& url, const VolumeMeta& vm, const std::string& passphrase_file);

// Turns STORE (a path or file:///path) into config.directory, or
// s3://BUCKET[/PREFIX] into config.s3's bucket and prefix; throws
// StartupError for a malformed or unsupported URL, e.g. a prefix with a
// ".", ".." or empty segment. Opens nothing; the CLI calls it while
// checking the arguments, so a bad URL is a usage error.
void ResolveStoreUrl(StoreConfig& config);

}  // namespace s3bd
