// AES-256-GCM and HKDF-SHA256 on OpenSSL 3's EVP interfaces; see aead.h.
//
// Both fetch their algorithms once per process (an implicit fetch on every
// init takes a lock and a lookup) and keep their contexts alive, because the
// codec runs them once per block: re-keying a live context costs the key
// schedule only, a new context costs allocations.
#include "aead.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <initializer_list>

namespace s3bd::codec::detail {

namespace {

const EVP_CIPHER* Aes256Gcm() {
  // Never freed: it lives as long as the process (and OpenSSL's own store).
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

EVP_MAC* Hmac() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

// One HMAC-SHA256 context per thread, with the digest set once; each use
// re-keys it. HKDF is two HMACs, written out here rather than through
// EVP_KDF's "HKDF": that one builds a new HMAC context for every derive
// (about 2 us a key against 0.8 us here, as much as the GCM of a 4 KiB
// block).
class HmacSha256 {
 public:
  static constexpr std::size_t kSize = 32;
  HmacSha256() {
    if (Hmac() == nullptr) return;
    ctx_ = EVP_MAC_CTX_new(Hmac());
    if (ctx_ == nullptr) return;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(ctx_, params) != 1) {
      EVP_MAC_CTX_free(ctx_);
      ctx_ = nullptr;
    }
  }
  ~HmacSha256() { EVP_MAC_CTX_free(ctx_); }
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  // HMAC(key, concatenation of `parts`) into out.
  bool Mac(std::span<const std::uint8_t> key, std::initializer_list<std::span<const std::uint8_t>> parts,
           std::span<std::uint8_t, kSize> out) {
    // HMAC keys may be empty (RFC 5869 allows an empty salt); OpenSSL wants
    // a non-null pointer for one.
    static const std::uint8_t kNothing = 0;
    if (ctx_ == nullptr || EVP_MAC_init(ctx_, key.empty() ? &kNothing : key.data(), key.size(), nullptr) != 1) {
      return false;
    }
    for (const auto& part : parts) {
      if (!part.empty() && EVP_MAC_update(ctx_, part.data(), part.size()) != 1) return false;
    }
    std::size_t len = 0;
    return EVP_MAC_final(ctx_, out.data(), &len, out.size()) == 1 && len == out.size();
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

// OSSL_PARAM wants a non-const pointer even for input it only reads.
void* Mutable(std::span<const std::uint8_t> s) {
  return const_cast<std::uint8_t*>(s.data());
}

bool FitsInt(std::size_t n) { return n <= static_cast<std::size_t>(INT_MAX); }

}  // namespace

AesGcm::AesGcm(Direction direction) : direction_(direction), ctx_(EVP_CIPHER_CTX_new()) {}

AesGcm::~AesGcm() { EVP_CIPHER_CTX_free(ctx_); }

bool AesGcm::Start(std::span<const std::uint8_t, kAesKeySize> key,
                   std::span<const std::uint8_t, kGcmNonceSize> nonce) {
  if (ctx_ == nullptr) return false;
  // The first Start sets the cipher (its default IV length is 96 bits, the
  // nonce size used here); later ones pass a null cipher, which keeps it and
  // only re-keys. A failed message may leave the context in any state, so
  // after one the cipher is set again.
  const EVP_CIPHER* cipher = started_once_ ? nullptr : Aes256Gcm();
  if (!started_once_ && cipher == nullptr) return false;
  const int ok = direction_ == Direction::kSeal
                     ? EVP_EncryptInit_ex2(ctx_, cipher, key.data(), nonce.data(), nullptr)
                     : EVP_DecryptInit_ex2(ctx_, cipher, key.data(), nonce.data(), nullptr);
  started_once_ = ok == 1;
  return ok == 1;
}

bool AesGcm::Aad(std::span<const std::uint8_t> aad) {
  if (aad.empty()) return true;
  if (!FitsInt(aad.size())) return false;
  int len = 0;
  const int ok = direction_ == Direction::kSeal
                     ? EVP_EncryptUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size()))
                     : EVP_DecryptUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size()));
  if (ok != 1) started_once_ = false;
  return ok == 1;
}

bool AesGcm::Update(std::span<const std::uint8_t> in, std::uint8_t* out) {
  if (in.empty()) return true;
  if (!FitsInt(in.size())) return false;
  int len = 0;
  const int ok = direction_ == Direction::kSeal
                     ? EVP_EncryptUpdate(ctx_, out, &len, in.data(), static_cast<int>(in.size()))
                     : EVP_DecryptUpdate(ctx_, out, &len, in.data(), static_cast<int>(in.size()));
  // GCM is a stream mode: every byte in gives one byte out, at once.
  const bool good = ok == 1 && static_cast<std::size_t>(len) == in.size();
  if (!good) started_once_ = false;
  return good;
}

bool AesGcm::Seal(std::span<std::uint8_t, kGcmTagSize> tag) {
  if (direction_ != Direction::kSeal) return false;
  int len = 0;
  std::uint8_t none[1];
  const bool good = EVP_EncryptFinal_ex(ctx_, none, &len) == 1 && len == 0 &&
                    EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) == 1;
  if (!good) started_once_ = false;
  return good;
}

bool AesGcm::Open(std::span<const std::uint8_t, kGcmTagSize> tag) {
  if (direction_ != Direction::kOpen) return false;
  // The control call copies the tag; it takes a non-const pointer anyway.
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()), Mutable(tag)) != 1) {
    started_once_ = false;
    return false;
  }
  int len = 0;
  std::uint8_t none[1];
  // A tag mismatch is an ordinary result here, not a broken context: the
  // next Start re-keys as usual.
  return EVP_DecryptFinal_ex(ctx_, none, &len) == 1 && len == 0;
}

bool HkdfSha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                std::span<const std::uint8_t> info, std::span<std::uint8_t> out) {
  constexpr std::size_t kHash = HmacSha256::kSize;
  if (out.empty() || out.size() > 255 * kHash) return false;
  thread_local HmacSha256 hmac;
  // RFC 5869 2.2, extract: PRK = HMAC(salt, IKM).
  std::array<std::uint8_t, kHash> prk{}, t{};
  bool ok = hmac.Mac(salt, {ikm}, prk);
  // 2.3, expand: T(i) = HMAC(PRK, T(i-1) || info || i), OKM = T(1) || T(2) ...
  std::size_t done = 0;
  for (std::uint8_t i = 1; ok && done < out.size(); ++i) {
    const std::span<const std::uint8_t> previous(t.data(), i == 1 ? 0 : kHash);
    ok = hmac.Mac(prk, {previous, info, {&i, 1}}, t);
    const std::size_t n = std::min(kHash, out.size() - done);
    std::memcpy(out.data() + done, t.data(), n);
    done += n;
  }
  OPENSSL_cleanse(prk.data(), prk.size());
  OPENSSL_cleanse(t.data(), t.size());
  return ok;
}

}  // namespace s3bd::codec::detail
