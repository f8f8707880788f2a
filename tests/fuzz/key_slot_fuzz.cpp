// Fuzzes the key slot parser with hostile "keyslot" lines, as a forged
// volume metadata object would hold them.
//
// Properties checked on every input:
//  - ParseKeySlot refuses with a one-line reason, or accepts;
//  - an accepted line is canonical: FormatKeySlot gives back the same bytes,
//    and parsing that again gives the same slot;
//  - OpenKeySlots on the accepted slot returns "opened" or kWrongPassphrase
//    and nothing else, with no memory error on the way. The KDF parameters
//    are forced down to the smallest (t=1, m=8 KiB, p=1) first: the parsed
//    ones may ask for 4 GiB and 16 passes, which is the cost the limits
//    allow a slot, not one a fuzzer can pay per input. The AES-GCM unwrap
//    then still sees the hostile salt, nonce, ciphertext and tag.
// The seed corpus (tests/fuzz/corpus/key_slot_fuzz) has a line that opens
// with the passphrase and volume id below, so both outcomes are reached.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "s3bd/codec/key_slots.h"
#include "s3bd/core/errors.h"

namespace {

constexpr std::string_view kPassphrase = "fuzz";
const std::string kVolumeId = "0123456789abcdef0123456789abcdef";

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "key_slot_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace s3bd::codec;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto slot = ParseKeySlot(text, &why);
  if (!slot) {
    Check(!why.empty(), "refused without a reason");
    Check(why.find('\n') == std::string::npos, "reason is not one line");
    Check(why.size() < 200, "reason too long");
    return 0;
  }
  const std::string again = FormatKeySlot(*slot);
  Check(again == text, "accepted a line that is not canonical");
  const auto back = ParseKeySlot(again, nullptr);
  Check(back.has_value(), "FormatKeySlot's line does not parse");
  Check(back->id == slot->id && back->kdf == slot->kdf && back->salt == slot->salt && back->wrapped == slot->wrapped,
        "round trip changed the slot");

  KeySlot tiny = *slot;
  tiny.kdf = KdfParams{1, 8, 1};
  DataKey key;
  std::uint32_t id = 0;
  const std::error_code ec = OpenKeySlots({tiny}, kPassphrase, kVolumeId, &key, &id);
  Check(!ec || ec == make_error_code(s3bd::Errc::kWrongPassphrase), "OpenKeySlots: unexpected error");
  if (!ec) Check(id == slot->id, "opened slot reports another id");
  return 0;
}
