// Key management of an encrypted volume: the random data key that encrypts
// the blocks, wrapped in key slots by keys derived from passphrases.
//
// A volume's metadata object (s3bd-volume, geometry.h) holds up to
// kMaxKeySlots "keyslot" lines; each is FormatKeySlot()'s text: the slot id,
// the KDF and its parameters, the KDF salt, and the wrapped data key
// (AES-256-GCM under the derived key; the associated data binds the volume id
// and the slot id, so a slot copied to another volume or slot does not
// open). Changing a passphrase rewrites one slot; no block is touched.
//
// The KDF is Argon2id (libargon2). DefaultKdfParams() takes about half a
// second on the machine it was tuned on; S3BD_TEST_KDF=T,M_KIB,P overrides it
// (tests only: weak parameters are recorded in the slot, so a test volume is
// weak forever).
//
// Everything parsed here comes from the store: ParseKeySlot treats its input
// as hostile (bounded lengths, exact formats, parameters within limits, so a
// forged slot cannot make the KDF take unbounded memory or time).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "s3bd/codec/block_codec.h"

namespace s3bd::codec {

inline constexpr std::size_t kMaxKeySlots = 8;

// The defaults are DefaultKdfParams() without S3BD_TEST_KDF (key_slots.cpp
// has the measurements they come from).
struct KdfParams {
  std::uint32_t t_cost = 4;          // passes
  std::uint32_t m_cost_kib = 262144; // memory, KiB
  std::uint32_t parallelism = 2;     // lanes, each on a thread of its own
  bool operator==(const KdfParams&) const = default;
};
// Throws StartupError if S3BD_TEST_KDF is set but malformed or outside the
// limits ParseKeySlot accepts.
KdfParams DefaultKdfParams();

struct KeySlot {
  std::uint32_t id = 0;  // 0 .. kMaxKeySlots-1
  KdfParams kdf;
  std::array<std::uint8_t, 16> salt{};
  std::vector<std::uint8_t> wrapped;  // nonce, encrypted data key, tag
};

// "ID argon2id T M P SALT_HEX WRAPPED_HEX" (the value of a "keyslot" line).
std::string FormatKeySlot(const KeySlot& slot);
// The inverse; nullopt and *why (one line, no secret) on anything malformed.
std::optional<KeySlot> ParseKeySlot(std::string_view text, std::string* why);

// A new slot `id` holding `key` under `passphrase` (random salt and nonce).
// Throws StartupError if the KDF or the random source fails.
KeySlot MakeKeySlot(std::uint32_t id, const DataKey& key, std::string_view passphrase, const KdfParams& kdf,
                    const std::string& volume_id);
// Tries every slot; the data key of the first that opens (and its id), or
// Errc::kWrongPassphrase if none does.
std::error_code OpenKeySlots(const std::vector<KeySlot>& slots, std::string_view passphrase,
                             const std::string& volume_id, DataKey* key, std::uint32_t* slot_id);

// A passphrase in memory, wiped when destroyed.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string s) : s_(std::move(s)) {}
  ~Secret();
  Secret(Secret&& o) noexcept : s_(std::move(o.s_)) {}
  Secret& operator=(Secret&& o) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  std::string_view view() const { return s_; }
  bool empty() const { return s_.empty(); }

 private:
  std::string s_;
};

// Where a passphrase comes from: --passphrase-file FILE, else the file named
// by S3BD_PASSPHRASE_FILE, else a prompt on the terminal (/dev/tty, echo
// off; `confirm`: asked twice, for a new passphrase). A file must not be
// group- or world-accessible and holds the passphrase (one trailing newline
// is dropped). An empty passphrase is refused. Throws StartupError (a
// UsageError for a bad file mode) with one line that never holds the secret;
// `what` names the purpose in the prompt ("Passphrase for WHAT: ", e.g.
// WHAT = "s3://bkt/vol").
Secret ReadPassphrase(const std::string& file, const std::string& what, bool confirm);

}  // namespace s3bd::codec
