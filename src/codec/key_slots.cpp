// Key slots: the volume's data key wrapped under keys derived from
// passphrases (see key_slots.h for the contract).
//
// One slot, as stored (FormatKeySlot):
//   "ID argon2id T M P SALT WRAPPED"
//   ID       0 .. kMaxKeySlots-1, decimal
//   T M P    Argon2id passes, memory in KiB, lanes (and threads), decimal
//   SALT     16 random bytes, 32 lowercase hex digits
//   WRAPPED  nonce(12) || AES-256-GCM(KEK, data key)(32) || tag(16) = 60
//            bytes, 120 lowercase hex digits
// KEK = Argon2id(passphrase, SALT, T, M, P), 32 bytes, version 0x13, no
// secret and no associated data. The GCM associated data is
//   "s3bd-keyslot-v1" || volume id || ID || T || M || P  (u32 big-endian each)
// so a slot copied to another volume or slot id, or whose KDF parameters
// were edited (say, lowered to make guessing cheaper), does not open. The
// volume id is the only field of variable length and everything after it is
// fixed-length, so the concatenation is unambiguous.
//
// Numbers are canonical (no sign, no leading zeros): ParseKeySlot accepts
// only text that FormatKeySlot would write, so every accepted line
// round-trips byte for byte (the fuzz target checks this).
//
// The KDF limits bound what a forged slot can make OpenKeySlots spend: at
// most 4 GiB and 16 passes per slot, kMaxKeySlots slots.
#include "s3bd/codec/key_slots.h"

#include <argon2.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "s3bd/core/errors.h"
#include "s3bd/core/unique_fd.h"

namespace s3bd::codec {

namespace {

constexpr std::string_view kKdfName = "argon2id";
constexpr std::string_view kAadLabel = "s3bd-keyslot-v1";
constexpr std::size_t kKekSize = 32;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kWrappedSize = kNonceSize + DataKey::kSize + kTagSize;  // 60
constexpr std::size_t kSaltSize = 16;
static_assert(kWrappedSize == 60);

// Limits on KDF parameters read from the store or the environment.
constexpr std::uint32_t kMaxTCost = 16;
constexpr std::uint32_t kMinMCostKib = 8;
constexpr std::uint32_t kMaxMCostKib = 4u << 20;  // 4 GiB
constexpr std::uint32_t kMaxParallelism = 16;

// The longest line FormatKeySlot writes is 1+1+8+1+2+1+7+1+2+1+32+1+120 =
// 178 characters; anything much longer is refused before it is split.
constexpr std::size_t kMaxSlotText = 256;
constexpr std::size_t kMaxPassphrase = 4096;

// Passphrases and derived keys live in buffers that are wiped on every exit.
template <std::size_t N>
struct WipedBytes {
  std::array<std::uint8_t, N> b{};
  WipedBytes() = default;
  WipedBytes(const WipedBytes&) = delete;
  WipedBytes& operator=(const WipedBytes&) = delete;
  ~WipedBytes() { OPENSSL_cleanse(b.data(), b.size()); }
};

void WipeString(std::string& s) {
  // Wipe the whole buffer, not only size() bytes: a moved-from or shortened
  // string keeps old bytes past its end. Resizing within the capacity never
  // reallocates.
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// A string holding a secret, wiped when it goes (also after a move: the
// moved-from string may keep a copy in its small-string buffer).
struct WipedString {
  std::string s;
  explicit WipedString(std::string v) : s(std::move(v)) {}
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { WipeString(s); }
};

// At most 40 characters of untrusted text, fit for one line of a message.
std::string Excerpt(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > kMax) out += "...";
  return out;
}

std::optional<std::string> CheckKdf(const KdfParams& k) {
  if (k.t_cost < 1 || k.t_cost > kMaxTCost) return fmt::format("t_cost {} is not in 1..{}", k.t_cost, kMaxTCost);
  if (k.parallelism < 1 || k.parallelism > kMaxParallelism) {
    return fmt::format("parallelism {} is not in 1..{}", k.parallelism, kMaxParallelism);
  }
  if (k.m_cost_kib < kMinMCostKib || k.m_cost_kib > kMaxMCostKib) {
    return fmt::format("m_cost {} KiB is not in {}..{}", k.m_cost_kib, kMinMCostKib, kMaxMCostKib);
  }
  // Argon2 needs 8 KiB (two blocks per slice, four slices) per lane.
  if (k.m_cost_kib < 8 * k.parallelism) {
    return fmt::format("m_cost {} KiB is below 8 KiB per lane ({} lanes)", k.m_cost_kib, k.parallelism);
  }
  return std::nullopt;
}

// A canonical decimal number: digits only, no leading zero (except "0"),
// at most 10 digits and <= UINT32_MAX.
std::optional<std::uint32_t> ParseU32(std::string_view s) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not canonical
}

bool ParseHex(std::string_view s, std::uint8_t* out, std::size_t n) {
  if (s.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = HexDigit(s[2 * i]), lo = HexDigit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string Hex(const std::uint8_t* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return s;
}

void FillRandom(std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw StartupError(fmt::format("getrandom: {}", std::strerror(errno)));
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

void PutU32(std::string& s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}

std::string Aad(const std::string& volume_id, std::uint32_t id, const KdfParams& k) {
  std::string aad(kAadLabel);
  aad += volume_id;
  PutU32(aad, id);
  PutU32(aad, k.t_cost);
  PutU32(aad, k.m_cost_kib);
  PutU32(aad, k.parallelism);
  return aad;
}

// Argon2 result code of deriving the KEK (ARGON2_OK on success).
int DeriveKek(std::string_view passphrase, const std::array<std::uint8_t, kSaltSize>& salt, const KdfParams& k,
              WipedBytes<kKekSize>* kek) {
  return argon2id_hash_raw(k.t_cost, k.m_cost_kib, k.parallelism, passphrase.data(), passphrase.size(), salt.data(),
                           salt.size(), kek->b.data(), kek->b.size());
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Seals `key` into out (kWrappedSize bytes: nonce || ciphertext || tag).
bool Seal(const WipedBytes<kKekSize>& kek, const std::string& aad, const DataKey& key, std::uint8_t* out) {
  std::uint8_t* nonce = out;
  std::uint8_t* ct = out + kNonceSize;
  std::uint8_t* tag = ct + DataKey::kSize;
  FillRandom(nonce, kNonceSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  return ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, kek.b.data(), nonce) == 1 &&
         EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size())) == 1 &&
         EVP_EncryptUpdate(ctx.get(), ct, &len, key.bytes().data(), static_cast<int>(DataKey::kSize)) == 1 &&
         len == static_cast<int>(DataKey::kSize) && EVP_EncryptFinal_ex(ctx.get(), ct + len, &len) == 1 &&
         len == 0 && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) == 1;
}

// Opens a wrapped key; false if it does not authenticate (or OpenSSL fails).
bool Open(const WipedBytes<kKekSize>& kek, const std::string& aad, const std::vector<std::uint8_t>& wrapped,
          WipedBytes<DataKey::kSize>* plain) {
  if (wrapped.size() != kWrappedSize) return false;
  const std::uint8_t* nonce = wrapped.data();
  const std::uint8_t* ct = nonce + kNonceSize;
  std::array<std::uint8_t, kTagSize> tag;
  std::memcpy(tag.data(), ct + DataKey::kSize, kTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  std::array<std::uint8_t, 16> final_block;  // GCM writes nothing at Final; room for it anyway
  return ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, kek.b.data(), nonce) == 1 &&
         EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size())) == 1 &&
         EVP_DecryptUpdate(ctx.get(), plain->b.data(), &len, ct, static_cast<int>(DataKey::kSize)) == 1 &&
         len == static_cast<int>(DataKey::kSize) &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1 &&
         EVP_DecryptFinal_ex(ctx.get(), final_block.data(), &len) == 1;
}

// --- DefaultKdfParams ---------------------------------------------------

// "T,M_KIB,P", each a canonical decimal number, within the limits above.
std::optional<KdfParams> ParseKdfEnv(std::string_view s) {
  KdfParams k;
  std::uint32_t* fields[] = {&k.t_cost, &k.m_cost_kib, &k.parallelism};
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t comma = i < 2 ? s.find(',') : s.size();
    if (comma == std::string_view::npos) return std::nullopt;
    const auto v = ParseU32(s.substr(0, comma));
    if (!v) return std::nullopt;
    *fields[i] = *v;
    s.remove_prefix(i < 2 ? comma + 1 : comma);
  }
  if (CheckKdf(k)) return std::nullopt;
  return k;
}

// --- Passphrases ----------------------------------------------------------

// Checks a passphrase read from `source`; drops exactly one trailing "\n"
// or "\r\n". Never mentions the content.
void FinishPassphrase(std::string& p, const std::string& source) {
  if (p.size() >= 2 && p.compare(p.size() - 2, 2, "\r\n") == 0) {
    p.resize(p.size() - 2);
  } else if (!p.empty() && p.back() == '\n') {
    p.pop_back();
  }
  if (p.empty()) throw StartupError(fmt::format("{} is empty: an empty passphrase is refused", source));
  if (p.size() > kMaxPassphrase) {
    throw StartupError(fmt::format("{} is too long: a passphrase has at most {} bytes", source, kMaxPassphrase));
  }
  if (p.find('\0') != std::string::npos) throw StartupError(fmt::format("{} contains a NUL byte", source));
}

// Reads at most `limit` bytes of fd into a string whose buffer is reserved
// once, so no reallocation leaves a copy of the secret behind.
std::string ReadAtMost(int fd, std::size_t limit, const std::string& source) {
  std::string s;
  s.reserve(limit);
  s.resize(limit);
  std::size_t got = 0;
  while (got < limit) {
    const ssize_t r = ::read(fd, s.data() + got, limit - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      WipeString(s);
      throw StartupError(fmt::format("cannot read {}: {}", source, std::strerror(e)));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  s.resize(got);  // within the capacity: the buffer stays where it is
  return s;
}

Secret ReadPassphraseFile(const std::string& file) {
  const std::string source = fmt::format("passphrase file {}", file);
  // Symlinks are followed on purpose (a secrets mount often links them);
  // the mode checked is that of the file actually opened.
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) throw StartupError(fmt::format("cannot open {}: {}", source, std::strerror(errno)));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw StartupError(fmt::format("cannot stat {}: {}", source, std::strerror(errno)));
  // A pipe (--passphrase-file <(pass show vol)) is as private as a file.
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    throw UsageError(fmt::format("{} is not a regular file or a pipe", source));
  }
  if ((st.st_mode & 077) != 0) {
    throw UsageError(fmt::format("{} is accessible by group or others (mode {:04o}); chmod 600 it", source,
                                 st.st_mode & 07777));
  }
  // One byte more than the longest passphrase plus "\r\n" tells "too long".
  WipedString s{ReadAtMost(fd.get(), kMaxPassphrase + 3, source)};
  FinishPassphrase(s.s, source);
  return Secret(std::move(s.s));
}

// Echo off on the terminal for as long as it lives.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;  // the user still sees the line end
    active_ = ::tcsetattr(fd_, TCSAFLUSH, &t) == 0;
  }
  ~EchoOff() {
    if (active_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t w = ::write(fd, s.data(), s.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      throw StartupError(fmt::format("cannot write to the terminal: {}", std::strerror(errno)));
    }
    s.remove_prefix(static_cast<std::size_t>(w));
  }
}

// One line from the terminal, echo off, with its "\n".
std::string PromptLine(int fd, std::string_view prompt) {
  WriteAll(fd, prompt);
  EchoOff echo(fd);
  if (!echo.active()) throw StartupError("cannot turn off echo on the terminal to ask for the passphrase");
  std::string s;
  const std::size_t limit = kMaxPassphrase + 3;
  s.reserve(limit);
  s.resize(limit);
  std::size_t got = 0;
  while (got < limit) {
    const ssize_t r = ::read(fd, s.data() + got, 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      WipeString(s);
      throw StartupError(fmt::format("cannot read the passphrase from the terminal: {}", std::strerror(e)));
    }
    if (r == 0) break;  // end of input: what came so far
    if (s[got++] == '\n') break;
  }
  s.resize(got);
  return s;
}

}  // namespace

KdfParams DefaultKdfParams() {
  // Set but empty counts as unset, as for S3BD_PASSPHRASE_FILE: that is how
  // a shell script "unsets" a variable it passes on.
  if (const char* env = std::getenv("S3BD_TEST_KDF"); env != nullptr && *env != '\0') {
    const auto k = ParseKdfEnv(env);
    if (!k) {
      throw StartupError(fmt::format(
          "S3BD_TEST_KDF={}: expected T,M_KIB,P (t 1..{}, m {}..{} KiB and at least 8 per lane, p 1..{})",
          Excerpt(env), kMaxTCost, kMinMCostKib, kMaxMCostKib, kMaxParallelism));
    }
    return *k;
  }
  // One derivation (argon2id_hash_raw, 32-byte output) on the machine this
  // was tuned on: 2 vCPUs, Debian 12's libargon2 0~20171227; best of 5,
  // wall time with both CPUs idle, and CPU time (what a busy or single-CPU
  // machine waits instead):
  //   t  m        p   wall     CPU
  //   2  256 MiB  1   0.51 s   0.51 s
  //   3  256 MiB  1   0.70 s   0.70 s
  //   2  256 MiB  2   0.30 s   0.52 s
  //   3  256 MiB  2   0.37 s   0.70 s
  //   4  256 MiB  2   0.51 s   0.97 s   <- chosen
  //   5  256 MiB  2   0.66 s   1.09 s
  //   2  128 MiB  2   0.13 s   0.24 s
  //   4  128 MiB  2   0.22 s   0.42 s
  //   1  512 MiB  2   0.36 s   0.67 s
  //   2  512 MiB  2   0.63 s   1.17 s
  // At the same half second, two lanes do twice the work of one (a guess
  // costs an attacker memory x passes); 256 MiB is what any machine that
  // mounts a disk can spare for a moment. Opening tries the slots in turn,
  // so a wrong passphrase on a volume with all 8 slots costs about 4 s.
  constexpr KdfParams kTuned{4, 262144, 2};
  static_assert(kTuned == KdfParams{}, "key_slots.h's defaults are these");
  return kTuned;
}

std::string FormatKeySlot(const KeySlot& slot) {
  return fmt::format("{} {} {} {} {} {} {}", slot.id, kKdfName, slot.kdf.t_cost, slot.kdf.m_cost_kib,
                     slot.kdf.parallelism, Hex(slot.salt.data(), slot.salt.size()),
                     Hex(slot.wrapped.data(), slot.wrapped.size()));
}

std::optional<KeySlot> ParseKeySlot(std::string_view text, std::string* why) {
  const auto fail = [&](std::string msg) -> std::optional<KeySlot> {
    if (why != nullptr) *why = "key slot: " + std::move(msg);
    return std::nullopt;
  };
  if (text.size() > kMaxSlotText) return fail(fmt::format("too long ({} bytes, at most {})", text.size(), kMaxSlotText));
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return fail(fmt::format("control or non-ASCII byte 0x{:02x}", u));
  }
  std::array<std::string_view, 7> f;
  std::size_t n = 0;
  for (std::string_view rest = text;;) {
    const std::size_t sp = rest.find(' ');
    const std::string_view field = rest.substr(0, sp);
    if (field.empty()) return fail("fields must be separated by single spaces: \"" + Excerpt(text) + "\"");
    if (n == f.size()) return fail("more than 7 fields: \"" + Excerpt(text) + "\"");
    f[n++] = field;
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  if (n != f.size()) {
    return fail(fmt::format("{} fields, expected 7 (ID argon2id T M P SALT WRAPPED): \"{}\"", n, Excerpt(text)));
  }
  KeySlot slot;
  const auto id = ParseU32(f[0]);
  if (!id || *id >= kMaxKeySlots) return fail(fmt::format("id \"{}\" is not in 0..{}", Excerpt(f[0]), kMaxKeySlots - 1));
  slot.id = *id;
  if (f[1] != kKdfName) return fail(fmt::format("unknown KDF \"{}\" (expected argon2id)", Excerpt(f[1])));
  const auto t = ParseU32(f[2]), m = ParseU32(f[3]), p = ParseU32(f[4]);
  if (!t) return fail("t_cost \"" + Excerpt(f[2]) + "\" is not a decimal number");
  if (!m) return fail("m_cost \"" + Excerpt(f[3]) + "\" is not a decimal number");
  if (!p) return fail("parallelism \"" + Excerpt(f[4]) + "\" is not a decimal number");
  slot.kdf = KdfParams{*t, *m, *p};
  if (auto bad = CheckKdf(slot.kdf)) return fail(*bad);
  if (!ParseHex(f[5], slot.salt.data(), slot.salt.size())) {
    return fail(fmt::format("salt is not {} lowercase hex digits ({} characters)", 2 * kSaltSize, f[5].size()));
  }
  slot.wrapped.resize(kWrappedSize);
  if (!ParseHex(f[6], slot.wrapped.data(), slot.wrapped.size())) {
    return fail(fmt::format("wrapped key is not {} lowercase hex digits ({} characters)", 2 * kWrappedSize,
                            f[6].size()));
  }
  return slot;
}

KeySlot MakeKeySlot(std::uint32_t id, const DataKey& key, std::string_view passphrase, const KdfParams& kdf,
                    const std::string& volume_id) {
  if (id >= kMaxKeySlots) throw StartupError(fmt::format("key slot id {} is not in 0..{}", id, kMaxKeySlots - 1));
  if (auto bad = CheckKdf(kdf)) throw StartupError("key slot KDF parameters: " + *bad);
  KeySlot slot;
  slot.id = id;
  slot.kdf = kdf;
  FillRandom(slot.salt.data(), slot.salt.size());
  WipedBytes<kKekSize> kek;
  if (const int rc = DeriveKek(passphrase, slot.salt, kdf, &kek); rc != ARGON2_OK) {
    throw StartupError(fmt::format("argon2id: {}", argon2_error_message(rc)));
  }
  slot.wrapped.resize(kWrappedSize);
  if (!Seal(kek, Aad(volume_id, id, kdf), key, slot.wrapped.data())) {
    throw StartupError("AES-256-GCM: wrapping the data key failed");
  }
  return slot;
}

std::error_code OpenKeySlots(const std::vector<KeySlot>& slots, std::string_view passphrase,
                             const std::string& volume_id, DataKey* key, std::uint32_t* slot_id) {
  // Slots need not come from ParseKeySlot: check what bounds the cost again.
  if (slots.size() > kMaxKeySlots) return make_error_code(Errc::kBadMetadata);
  bool out_of_memory = false;
  for (const KeySlot& slot : slots) {
    if (slot.id >= kMaxKeySlots || CheckKdf(slot.kdf) || slot.wrapped.size() != kWrappedSize) continue;
    WipedBytes<kKekSize> kek;
    const int rc = DeriveKek(passphrase, slot.salt, slot.kdf, &kek);
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) out_of_memory = true;
    if (rc != ARGON2_OK) continue;
    WipedBytes<DataKey::kSize> plain;
    if (!Open(kek, Aad(volume_id, slot.id, slot.kdf), slot.wrapped, &plain)) continue;
    *key = DataKey(std::span<const std::uint8_t, DataKey::kSize>(plain.b));
    if (slot_id != nullptr) *slot_id = slot.id;
    return {};
  }
  // A slot that could not be tried for want of memory may be the right one:
  // saying "wrong passphrase" then would mislead.
  if (out_of_memory) return std::make_error_code(std::errc::not_enough_memory);
  return make_error_code(Errc::kWrongPassphrase);
}

Secret::~Secret() { WipeString(s_); }

Secret& Secret::operator=(Secret&& o) noexcept {
  if (this != &o) {
    WipeString(s_);
    s_ = std::move(o.s_);
    // The moved-from string may keep a copy in its own (small-string)
    // buffer, or receive our old buffer: wipe it now, not at its end.
    WipeString(o.s_);
  }
  return *this;
}

Secret ReadPassphrase(const std::string& file, const std::string& what, bool confirm) {
  if (!file.empty()) return ReadPassphraseFile(file);
  if (const char* env = std::getenv("S3BD_PASSPHRASE_FILE"); env != nullptr && *env != '\0') {
    return ReadPassphraseFile(env);
  }
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty.valid()) throw StartupError("no passphrase: use --passphrase-file FILE or S3BD_PASSPHRASE_FILE (no terminal to ask on)");
  WipedString first{PromptLine(tty.get(), "Passphrase for " + what + ": ")};
  FinishPassphrase(first.s, "the passphrase typed");
  if (confirm) {
    WipedString again{PromptLine(tty.get(), "Repeat passphrase: ")};
    FinishPassphrase(again.s, "the passphrase typed");
    if (again.s.size() != first.s.size() || CRYPTO_memcmp(again.s.data(), first.s.data(), first.s.size()) != 0) {
      throw StartupError("the two passphrases typed differ");
    }
  }
  return Secret(std::move(first.s));
}

}  // namespace s3bd::codec
