// The codec's two OpenSSL primitives, kept apart from the encoding so that
// the unit tests can check them against published vectors (GCM spec test
// cases, RFC 5869) through exactly the code the codec runs:
//   AesGcm      AES-256-GCM with a 96-bit nonce, in steps, so that a caller
//               can feed the associated data and the plaintext in pieces and
//               choose where each piece's output goes.
//   HkdfSha256  HKDF (RFC 5869) with SHA-256.
// Internal to src/codec; not part of the public headers.
//
// Thread safety: an AesGcm object is one OpenSSL context, used by one thread
// at a time (the codec keeps one per thread and direction). HkdfSha256 may
// be called concurrently (it keeps its context per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <openssl/types.h>

namespace s3bd::codec::detail {

inline constexpr std::size_t kAesKeySize = 32;
inline constexpr std::size_t kGcmNonceSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;

class AesGcm {
 public:
  enum class Direction { kSeal, kOpen };
  explicit AesGcm(Direction direction);
  ~AesGcm();
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;

  // One message: Start(), then any Aad() calls, then any Update() calls,
  // then Seal() or Open(). Every step returns false on failure; the message
  // is then abandoned (the next Start() begins a new one).
  //
  // Start keeps the context's cipher and replaces only key and nonce (no
  // allocation once the context exists).
  bool Start(std::span<const std::uint8_t, kAesKeySize> key, std::span<const std::uint8_t, kGcmNonceSize> nonce);
  bool Aad(std::span<const std::uint8_t> aad);
  // Encrypts (kSeal) or decrypts (kOpen) `in` into out[0 .. in.size()).
  // `out` may be in.data() itself (in place); no other overlap.
  bool Update(std::span<const std::uint8_t> in, std::uint8_t* out);
  // kSeal: writes the tag.
  bool Seal(std::span<std::uint8_t, kGcmTagSize> tag);
  // kOpen: true only if `tag` authenticates the associated data and the
  // ciphertext given. Until then the plaintext written is unauthenticated.
  bool Open(std::span<const std::uint8_t, kGcmTagSize> tag);

 private:
  Direction direction_;
  EVP_CIPHER_CTX* ctx_ = nullptr;
  bool started_once_ = false;  // the cipher is set: later Starts pass only key and nonce
};

// HKDF-SHA256(ikm, salt, info) into `out` (1 .. 255*32 bytes). False if
// OpenSSL fails.
bool HkdfSha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                std::span<const std::uint8_t> info, std::span<std::uint8_t> out);

}  // namespace s3bd::codec::detail
