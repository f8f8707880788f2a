// The composition root. The stack, bottom up:
//
//   store      DirectoryStore (file:// or a path)      src/store/
//   faults     FaultStore, only when S3BD_INJECT_FAULTS is set (tests)
//   ---------- later issues add, in this order: ----------
//   codec      compression, then authenticated encryption
//   guard      MD5/ETag consistency guard, minimum write delay
//   cache      write-back block cache, read-ahead
//   ----------
//   Volume     byte ranges -> blocks (src/volume/), used by the FUSE front end
//
// Each layer wraps the one below it; nothing else constructs layers.
#include "s3bd/core/stack.h"

#include <climits>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/store/directory_store.h"
#include "s3bd/store/fault_store.h"

namespace s3bd {

void ResolveStoreUrl(StoreConfig& config) {
  std::string path = config.url;
  if (path.empty()) throw StartupError("STORE must not be empty");
  const auto scheme_end = path.find("://");
  if (scheme_end != std::string::npos) {
    const std::string scheme = path.substr(0, scheme_end);
    if (scheme == "file") {
      path = path.substr(scheme_end + 3);
      if (path.empty() || path[0] != '/') {
        throw StartupError(fmt::format("invalid store URL '{}': use file:///absolute/path", config.url));
      }
    } else if (scheme == "s3") {
      throw StartupError(fmt::format("store '{}': S3 stores are not supported by this build yet", config.url));
    } else {
      throw StartupError(fmt::format("invalid store URL '{}': unknown scheme '{}' (use a path or file:///path)",
                                     config.url, scheme));
    }
  }
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) != nullptr) {
    path = resolved;
  } else if (path[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) != nullptr) path = std::string(cwd) + "/" + path;
  }
  config.directory = path;
}

Stack BuildStack(const StoreConfig& config) {
  auto dir = Directory::Open(config.directory, config.read_only);

  std::optional<Geometry> stored;
  std::string text;
  if (auto ec = dir->ReadMeta(kVolumeMetaKey, text); !ec) {
    stored = DecodeVolumeMeta(text);
  } else if (ec != std::errc::no_such_file_or_directory) {
    throw StartupError(fmt::format("cannot read volume metadata from {}: {}", config.directory, ec.message()));
  }

  const GeometryDecision d =
      DecideGeometry(stored, config.size, config.block_size, config.force, config.read_only);

  if (d.shrinking) {
    // Shrinking is only safe if nothing is stored past the new end.
    DirectoryStore old_extent(dir, *stored);
    std::optional<BlockNum> beyond;
    if (auto ec = old_extent.ListNonZero([&](BlockNum b) {
          if (b >= d.geometry.num_blocks) beyond = b;
        })) {
      throw StartupError(fmt::format("cannot list {}: {}", config.directory, ec.message()));
    }
    if (beyond) {
      throw StartupError(fmt::format("cannot shrink to {}: block {} past the new end holds data",
                                     FormatSize(d.geometry.size()), BlockName(*beyond)));
    }
  }

  Stack stack;
  stack.meta = dir;
  stack.top = std::make_unique<DirectoryStore>(dir, d.geometry);
  if (const char* faults = std::getenv("S3BD_INJECT_FAULTS"); faults && *faults) {
    stack.top = std::make_unique<FaultStore>(std::move(stack.top), FaultSpec::Parse(faults));
    spdlog::warn("injecting faults: {}", faults);
  }
  if (d.write_meta) stack.pending_meta = EncodeVolumeMeta(d.geometry);
  spdlog::debug("volume {}: {} in {} blocks of {}", config.url, FormatSize(d.geometry.size()),
               d.geometry.num_blocks, FormatSize(d.geometry.block_size));
  return stack;
}

void CommitGeometry(Stack& stack) {
  if (stack.pending_meta.empty()) return;
  if (auto ec = stack.meta->WriteMeta(kVolumeMetaKey, stack.pending_meta)) {
    throw StartupError(fmt::format("cannot record the volume geometry in the store: {}", ec.message()));
  }
  stack.pending_meta.clear();
}

}  // namespace s3bd
