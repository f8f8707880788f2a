// `s3bd passwd STORE`: changes (or, with --add, adds) a passphrase of an
// encrypted volume. Only the key slot is rewritten: the data key that
// encrypts the blocks stays, so no block is touched and a mounted volume
// keeps working (it holds the data key, and rereads the metadata object
// only at its next mount).
//
// Steps: read the metadata object and its version; open a key slot with a
// current passphrase (refused: "wrong passphrase for URL"); wrap the data key
// under the new passphrase into the slot that opened (or, --add, the lowest
// free one); write the object back on condition that it is still at that
// version (If-Match on S3), so a concurrent change is never overwritten.
#include <cstdio>
#include <set>
#include <string>

#include <fmt/format.h>

#include "s3bd/cli/cli.h"
#include "s3bd/codec/key_slots.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/core/stack.h"
#include "s3bd/cli/logging.h"

namespace s3bd {

int RunPasswd(const StoreConfig& store, const PasswdOptions& options) {
  try {
    const OpenedVolume v = OpenVolume(store);
    if (v.volume.format == VolumeMeta::Format::kS3backer) {
      throw StartupError(fmt::format("{} is an s3backer volume: its key derives from the password itself, which "
                                     "cannot change without re-encrypting every block", store.url));
    }
    std::string text, version;
    if (auto ec = v.meta->ReadMeta(kVolumeMetaKey, text, &version)) {
      throw StartupError(fmt::format("cannot read the volume metadata of {}: {}", store.url, ec.message()));
    }
    VolumeMeta vm = DecodeVolumeMeta(text);
    if (!vm.encrypted()) throw StartupError(fmt::format("{} is not encrypted: it has no passphrase", store.url));
    const UnlockedVolume u = UnlockVolume(store.url, vm, options.old_file);
    const std::vector<codec::KeySlot>& slots = u.slots;
    std::uint32_t target = u.slot;
    if (options.add) {
      std::set<std::uint32_t> used;
      for (const auto& s : slots) used.insert(s.id);
      target = 0;
      while (used.count(target)) ++target;
      if (target >= codec::kMaxKeySlots) {
        throw StartupError(fmt::format("{} has no free key slot (all {} are used)", store.url, codec::kMaxKeySlots));
      }
    }
    // A new passphrase from a file is used as it is; typed, it is asked twice.
    const codec::Secret new_pass =
        codec::ReadPassphrase(options.new_file, "the new passphrase of " + store.url, /*confirm=*/true);
    const codec::KeySlot fresh = codec::MakeKeySlot(target, *u.key, new_pass.view(), codec::DefaultKdfParams(), vm.id);
    std::vector<std::string> lines;
    bool replaced = false;
    for (const auto& s : slots) {
      if (s.id == target) {
        lines.push_back(codec::FormatKeySlot(fresh));
        replaced = true;
      } else {
        lines.push_back(codec::FormatKeySlot(s));
      }
    }
    if (!replaced) lines.push_back(codec::FormatKeySlot(fresh));
    vm.key_slots = lines;
    if (auto ec = v.meta->WriteMeta(kVolumeMetaKey, EncodeVolumeMeta(vm), MetaCondition::Version(version), nullptr)) {
      if (ec == Errc::kConditionFailed) {
        throw StartupError(fmt::format("the volume metadata of {} changed meanwhile; nothing was changed, try again",
                                       store.url));
      }
      throw StartupError(fmt::format("cannot write the volume metadata of {}: {}", store.url, ec.message()));
    }
    std::printf(options.add ? "%s: added key slot %u\n" : "%s: changed the passphrase of key slot %u\n",
                store.url.c_str(), target);
    return 0;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

}  // namespace s3bd
