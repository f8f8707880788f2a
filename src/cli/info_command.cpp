// `s3bd info STORE`: what a store's volume is, from its metadata object,
// and with --count how much of it is stored (a listing: in parallel on S3).
// Opens the store read-only and writes nothing.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "s3bd/cli/cli.h"
#include "s3bd/cli/progress.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/codec/key_slots.h"
#include "s3bd/core/stack.h"
#include "s3bd/volume/lease.h"
#include "s3bd/cli/logging.h"

namespace s3bd {

int RunInfo(const StoreConfig& config, bool count, bool json, bool quiet) {
  try {
    OpenedVolume v = OpenVolume(config);
    const Geometry& g = v.volume.geometry;
    nlohmann::ordered_json j;
    const bool s3backer = v.volume.format == VolumeMeta::Format::kS3backer;
    j["store"] = config.url;
    j["format"] = s3backer ? "s3backer" : "s3bd";
    j["size"] = g.size();
    j["block_size"] = g.block_size;
    j["num_blocks"] = g.num_blocks;
    j["volume_id"] = v.volume.id.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(v.volume.id);
    j["checksum_crc32c"] = v.volume.crc32c;
    j["created"] = nlohmann::ordered_json();  // not recorded in the volume's metadata
    std::string slots_text;
    if (v.volume.encrypted() && s3backer) {
      nlohmann::ordered_json e;
      e["cipher"] = v.volume.cipher;
      j["encryption"] = e;
    } else if (v.volume.encrypted()) {
      nlohmann::ordered_json e;
      e["cipher"] = v.volume.cipher;
      e["key_slots"] = nlohmann::ordered_json::array();
      for (const std::string& line : v.volume.key_slots) {
        std::string why;
        nlohmann::ordered_json k;
        if (auto slot = codec::ParseKeySlot(line, &why)) {
          k["id"] = slot->id;
          k["kdf"] = "argon2id";
          k["t_cost"] = slot->kdf.t_cost;
          k["m_cost_kib"] = slot->kdf.m_cost_kib;
          k["parallelism"] = slot->kdf.parallelism;
          slots_text += fmt::format("{}slot {} (argon2id, {} passes, {}, {} lanes)", slots_text.empty() ? "" : "; ",
                                    slot->id, slot->kdf.t_cost, FormatSize(std::uint64_t{slot->kdf.m_cost_kib} << 10),
                                    slot->kdf.parallelism);
        } else {
          k["error"] = why;
          slots_text += fmt::format("{}a damaged slot ({})", slots_text.empty() ? "" : "; ", why);
        }
        e["key_slots"].push_back(k);
      }
      j["encryption"] = e;
    } else {
      j["encryption"] = nlohmann::ordered_json();
    }
    LeaseOptions lo = DefaultLeaseOptions();
    lo.url = config.url;
    const FoundLease lease = ReadLease(*v.meta, lo);
    if (!lease.present) {
      j["lease"] = nlohmann::ordered_json();
    } else {
      nlohmann::ordered_json l;
      l["readable"] = lease.readable;
      if (lease.readable) {
        l["host"] = lease.record.host;
        l["pid"] = lease.record.pid;
        l["mountpoint"] = lease.record.mountpoint;
        l["started"] = lease.record.started;
        l["expires"] = lease.record.expires;
        l["state"] = LeaseStateName(lease.record.state);
        l["reason"] = lease.record.reason;
        l["cache_file"] = lease.record.cache_file;
      } else {
        l["error"] = lease.why;
      }
      l["renewed"] = lease.readable && !lease.dead;
      j["lease"] = l;
    }
    if (count) {
      Progress bar("counting", quiet || json);
      std::uint64_t blocks = 0;
      if (auto ec = v.store->ListNonZero([&](BlockNum b) {
            if (b < g.num_blocks) ++blocks;
            if (blocks % 1024 == 0) bar.Update(blocks, 0, fmt::format("{} blocks stored", blocks));
          })) {
        throw StartupError(fmt::format("cannot list {}: {}", config.url, ec.message()));
      }
      bar.Finish();
      j["stored_blocks"] = blocks;
      j["stored_bytes"] = blocks * g.block_size;
    }
    if (json) {
      std::fputs((j.dump(2) + "\n").c_str(), stdout);
      return 0;
    }
    std::string out;
    out += fmt::format("volume      {}\n", config.url);
    out += s3backer ? "format      s3backer (no s3bd-volume object; geometry from block 0's headers)\n"
                    : "format      s3bd\n";
    out += fmt::format("size        {} ({} bytes, {} blocks of {})\n", FormatSize(g.size()), g.size(), g.num_blocks,
                       FormatSize(g.block_size));
    out += fmt::format("volume id   {}\n", s3backer             ? "none (an s3backer volume)"
                                         : v.volume.id.empty() ? "none (created before volume ids)"
                                                               : v.volume.id);
    out += fmt::format("checksums   {}\n", v.volume.crc32c ? "CRC-32C required on every object (checksum-crc32c 1)"
                                         : s3backer        ? "the ETag (MD5) of plain objects, the HMAC of encrypted ones"
                                                           : "not recorded by this volume");
    out += "created     not recorded\n";
    out += !v.volume.encrypted() ? std::string("encryption  none\n")
           : s3backer            ? fmt::format("encryption  {}, key from the password, bucket and prefix\n",
                                               v.volume.cipher)
                                 : fmt::format("encryption  {}, key {}\n", v.volume.cipher, slots_text);
    if (!lease.present) {
      out += "mounted     not mounted read-write (no lease)\n";
    } else if (!lease.readable) {
      out += fmt::format("mounted     unknown: {}\n", lease.holder);
    } else if (lease.released) {
      out += fmt::format("mounted     not mounted read-write (last: {})\n", lease.holder);
    } else {
      out += fmt::format("mounted     read-write by {}; {}\n", lease.holder,
                         lease.dead ? "no longer renewed (s3bd unlock removes it)"
                                    : "renewed, expires " + FormatUnixTime(lease.record.expires));
    }
    if (count) {
      const std::uint64_t blocks = j["stored_blocks"];
      out += fmt::format("stored      {} blocks, {} bytes ({:.1f}% of the volume)\n", blocks,
                         blocks * g.block_size,
                         g.num_blocks ? 100.0 * static_cast<double>(blocks) / static_cast<double>(g.num_blocks) : 0.0);
    }
    std::fputs(out.c_str(), stdout);
    return 0;
  } catch (const StartupError& e) {
    return ReportError(e);
  }
}

}  // namespace s3bd
