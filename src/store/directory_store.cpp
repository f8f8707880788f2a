// Directory store: one file per block. See the header for the design.
#include "s3bd/store/directory_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "s3bd/core/errors.h"
#include "s3bd/core/unique_fd.h"

namespace s3bd {

namespace {

constexpr const char* kTmpPrefix = ".tmp-";

std::error_code WriteAll(int fd, const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastError();
    }
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return {};
}

// Reads exactly `len` bytes at offset 0; a short file is an error.
std::error_code ReadAll(int fd, void* data, std::size_t len) {
  auto* p = static_cast<std::uint8_t*>(data);
  off_t off = 0;
  while (len > 0) {
    ssize_t n = ::pread(fd, p, len, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastError();
    }
    if (n == 0) return make_error_code(Errc::kBadBlockSize);
    p += n;
    off += n;
    len -= static_cast<std::size_t>(n);
  }
  return {};
}

// A listing of the directory open as `dirfd` (not of whatever its path
// names by now), or nullptr with errno set.
DIR* OpenListing(int dirfd) {
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    const int err = errno;
    ::close(fd);
    errno = err;
  }
  return d;
}

// Removes temp files left by a crash. Only called while holding the
// exclusive lock, so no other process can be writing them.
void RemoveStaleTemps(int dirfd) {
  DIR* d = OpenListing(dirfd);
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, kTmpPrefix, std::strlen(kTmpPrefix)) == 0) {
      ::unlinkat(dirfd, e->d_name, 0);
    }
  }
  ::closedir(d);
}

}  // namespace

bool ParseBlockName(std::string_view name, BlockNum& block) {
  if (name.size() < 8 || name.size() > 16) return false;
  BlockNum v = 0;
  for (char c : name) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<BlockNum>(digit);
  }
  // Reject non-canonical names ("000000002a" for block 0x2a).
  if (name.size() > 8 && name[0] == '0') return false;
  block = v;
  return true;
}

Directory::Directory(std::string path, int fd, bool read_only)
    : path_(std::move(path)), fd_(fd), read_only_(read_only) {}

Directory::~Directory() { ::close(fd_); }

std::shared_ptr<Directory> Directory::Open(const std::string& path, bool read_only, bool lock,
                                           const std::function<std::string(const std::string&)>& who_holds) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      throw StartupError(fmt::format("store directory {} does not exist (create it first)", path));
    }
    throw StartupError(fmt::format("cannot access store {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw StartupError(fmt::format("store {} is not a directory", path));
  }
  if (!read_only && ::access(path.c_str(), W_OK) != 0) {
    throw StartupError(
        fmt::format("store directory {} is not writable: {}", path, std::strerror(errno)));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw StartupError(fmt::format("cannot open store {}: {}", path, std::strerror(errno)));
  }
  if (lock && ::flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      if (who_holds) {
        std::string lease;
        std::ifstream in(path + "/s3bd-lease");
        if (in) {
          char buf[8192];
          in.read(buf, sizeof buf);
          lease.assign(buf, static_cast<std::size_t>(in.gcount()));
        }
        if (std::string why = who_holds(lease); !why.empty()) throw StartupError(why);
      }
      throw StartupError(fmt::format("store {} is in use by another s3bd mount", path));
    }
    throw StartupError(fmt::format("cannot lock store {}: {}", path, std::strerror(err)));
  }
  if (!read_only && lock) RemoveStaleTemps(fd);  // unlocked: a mount may be writing them
  return std::shared_ptr<Directory>(new Directory(path, fd, read_only));
}

std::error_code Directory::ReplaceFile(const std::string& name, const void* data, std::size_t len,
                                       std::string_view tail) {
  if (read_only_) return std::make_error_code(std::errc::read_only_file_system);
  const std::string tmp = fmt::format("{}{}-{}", kTmpPrefix, name, tmp_counter_.fetch_add(1));
  UniqueFd fd(::openat(fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return LastError();
  std::error_code ec = WriteAll(fd.get(), data, len);
  if (!ec && !tail.empty()) ec = WriteAll(fd.get(), tail.data(), tail.size());
  if (!ec && ::fdatasync(fd.get()) != 0) ec = LastError();
  std::error_code close_ec = fd.Close();
  if (!ec) ec = close_ec;
  if (!ec && ::renameat(fd_, tmp.c_str(), fd_, name.c_str()) != 0) ec = LastError();
  if (ec) ::unlinkat(fd_, tmp.c_str(), 0);
  return ec;
}

std::error_code Directory::SyncDir() {
  return ::fsync(fd_) == 0 ? std::error_code{} : LastError();
}

std::error_code Directory::ListEntries(
    const std::function<void(const std::string& name, std::uint64_t size, bool regular)>& fn) {
  DIR* d = OpenListing(fd_);
  if (!d) return LastError();
  std::error_code ec;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (::fstatat(fd_, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {  // gone since the listing (a temp file renamed)
        errno = 0;
        continue;
      }
      ec = LastError();
      break;
    }
    fn(e->d_name, static_cast<std::uint64_t>(st.st_size), S_ISREG(st.st_mode));
    errno = 0;
  }
  if (!ec && errno) ec = LastError();
  ::closedir(d);
  return ec;
}

std::error_code Directory::RemoveEntry(const std::string& name) {
  if (read_only_) return std::make_error_code(std::errc::read_only_file_system);
  if (::unlinkat(fd_, name.c_str(), 0) != 0 && errno != ENOENT) return LastError();
  return {};
}

namespace {

std::error_code CheckCondition(const MetaCondition& cond, std::error_code read, const std::string& current) {
  const bool exists = !read;
  if (read && read != std::errc::no_such_file_or_directory) return read;
  switch (cond.kind) {
    case MetaCondition::Kind::kNone: return {};
    case MetaCondition::Kind::kAbsent: return exists ? make_error_code(Errc::kConditionFailed) : std::error_code{};
    case MetaCondition::Kind::kVersion:
      return exists && ContentVersion(current) == cond.version ? std::error_code{}
                                                                : make_error_code(Errc::kConditionFailed);
  }
  return {};
}

}  // namespace

std::error_code Directory::ReadMeta(const std::string& key, std::string& value, std::string* version) {
  std::lock_guard lock(meta_mu_);
  if (auto ec = ReadFile(key, value)) return ec;
  if (version) *version = ContentVersion(value);
  return {};
}

std::error_code Directory::WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                                     std::string* version) {
  std::lock_guard lock(meta_mu_);
  if (cond.kind != MetaCondition::Kind::kNone) {
    std::string current;
    if (auto ec = CheckCondition(cond, ReadFile(key, current), current)) return ec;
  }
  if (auto ec = ReplaceFile(key, value.data(), value.size())) return ec;
  if (auto ec = SyncDir()) return ec;
  if (version) *version = ContentVersion(value);
  return {};
}

std::error_code Directory::DeleteMeta(const std::string& key, const MetaCondition& cond) {
  std::lock_guard lock(meta_mu_);
  if (cond.kind != MetaCondition::Kind::kNone) {
    std::string current;
    if (auto ec = CheckCondition(cond, ReadFile(key, current), current)) return ec;
  }
  if (::unlinkat(fd_, key.c_str(), 0) != 0 && errno != ENOENT) return LastError();
  return SyncDir();
}

std::error_code Directory::ProbeConditions(const std::string&, bool* enforced) {
  *enforced = true;
  return {};
}

std::error_code Directory::ReadFile(const std::string& key, std::string& value) {
  UniqueFd fd(::openat(fd_, key.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return LastError();
  value.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastError();
    }
    if (n == 0) break;
    value.append(buf, static_cast<std::size_t>(n));
    if (value.size() > (1u << 20)) return make_error_code(Errc::kBadMetadata);
  }
  return {};
}


DirectoryStore::DirectoryStore(std::shared_ptr<Directory> dir, Geometry g)
    : ObjectStore("directory", g), dir_(std::move(dir)) {}

namespace {

constexpr char kTrailerMagic[8] = {'s', '3', 'b', 'd', 'o', 'b', 'j', '1'};
constexpr std::size_t kTrailerFixed = 12;  // length + magic
// Pairs of at most 64 + 256 bytes, a few bytes of padding.
constexpr std::size_t kMaxTrailer = ObjectMeta::kMaxPairs * 330 + kTrailerFixed + 8;

// The trailer of an object with `meta` whose body is `body_size` bytes.
std::string MakeTrailer(const ObjectMeta& meta, std::size_t body_size, std::size_t block_size) {
  std::string t;
  for (const auto& [name, value] : meta.pairs) t += name + ":" + value + "\n";
  if (body_size + t.size() + kTrailerFixed == block_size) t += '\n';
  const auto len = static_cast<std::uint32_t>(t.size() + kTrailerFixed);
  for (int i = 0; i < 4; ++i) t += static_cast<char>((len >> (8 * i)) & 0xff);
  t.append(kTrailerMagic, sizeof kTrailerMagic);
  return t;
}

// Parses a trailer (all of it); false if it is not a valid one.
bool ParseTrailer(std::string_view t, ObjectMeta* meta) {
  if (t.size() < kTrailerFixed || std::memcmp(t.data() + t.size() - 8, kTrailerMagic, 8) != 0) return false;
  ObjectMeta m;
  std::string_view pairs = t.substr(0, t.size() - kTrailerFixed);
  while (!pairs.empty()) {
    const auto nl = pairs.find('\n');
    if (nl == std::string_view::npos) return false;
    const std::string_view line = pairs.substr(0, nl);
    pairs.remove_prefix(nl + 1);
    if (line.empty()) continue;  // padding
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || m.pairs.size() == ObjectMeta::kMaxPairs) return false;
    m.pairs.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  if (!m.Valid()) return false;
  if (meta) *meta = std::move(m);
  return true;
}

// The version of an object file: the MD5 of all of it.
ObjectVersion FileVersion(std::span<const std::uint8_t> body, std::string_view trailer) {
  ObjectVersion v;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) && EVP_DigestUpdate(ctx, body.data(), body.size()) &&
                  EVP_DigestUpdate(ctx, trailer.data(), trailer.size()) && EVP_DigestFinal_ex(ctx, v.tag.data(), &len);
  EVP_MD_CTX_free(ctx);
  v.known = ok && len == v.tag.size();
  return v;
}

}  // namespace

std::error_code DirectoryStore::DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                                      ObjectMeta* meta, ObjectVersion* version) {
  const std::string name = BlockName(block);
  UniqueFd fd(::openat(dir_->fd(), name.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return {};
    return LastError();
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return LastError();
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t body = file_size;
  std::string trailer;
  if (file_size != geometry().block_size) {
    // Not a bare block: it must end in a trailer.
    std::uint8_t fixed[kTrailerFixed];
    if (file_size < kTrailerFixed || ::pread(fd.get(), fixed, sizeof fixed, st.st_size - kTrailerFixed) !=
                                         static_cast<ssize_t>(sizeof fixed)) {
      return make_error_code(Errc::kCorruptBlock);
    }
    const std::uint32_t len = fixed[0] | fixed[1] << 8 | fixed[2] << 16 | static_cast<std::uint32_t>(fixed[3]) << 24;
    if (len < kTrailerFixed || len > kMaxTrailer || len > file_size) return make_error_code(Errc::kCorruptBlock);
    trailer.resize(len);
    body = file_size - len;
    if (::pread(fd.get(), trailer.data(), len, static_cast<off_t>(body)) != static_cast<ssize_t>(len)) {
      return make_error_code(Errc::kCorruptBlock);
    }
    ObjectMeta m;
    if (!ParseTrailer(trailer, &m)) return make_error_code(Errc::kCorruptBlock);
    if (meta) *meta = std::move(m);
  }
  if (body > buf.size()) return make_error_code(Errc::kBadBlockSize);
  if (auto ec = ReadAll(fd.get(), buf.data(), static_cast<std::size_t>(body))) return ec;
  *size = static_cast<std::size_t>(body);
  *found = true;
  if (version) *version = FileVersion(buf.first(static_cast<std::size_t>(body)), trailer);
  return {};
}

std::error_code DirectoryStore::DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                                      ObjectVersion* version) {
  std::string trailer;
  if (!(meta.empty() && body.size() == geometry().block_size)) {
    trailer = MakeTrailer(meta, body.size(), geometry().block_size);
  }
  std::error_code ec = dir_->ReplaceFile(BlockName(block), body.data(), body.size(), trailer);
  if (ec) return ec;
  dir_dirty_.store(true);
  if (version) *version = FileVersion(body, trailer);
  return {};
}

std::error_code DirectoryStore::DoDelete(BlockNum block) {
  if (dir_->read_only()) return std::make_error_code(std::errc::read_only_file_system);
  if (::unlinkat(dir_->fd(), BlockName(block).c_str(), 0) != 0) {
    if (errno == ENOENT) return {};
    return LastError();
  }
  dir_dirty_.store(true);
  return {};
}

std::error_code DirectoryStore::DoFlush() {
  // Clear the flag before syncing: a rename that lands after this point sets
  // it again and is covered by the next flush.
  if (!dir_dirty_.exchange(false)) return {};
  std::error_code ec = dir_->SyncDir();
  if (ec) dir_dirty_.store(true);
  return ec;
}

std::error_code DirectoryStore::DoList(const std::function<void(BlockNum)>& fn) {
  DIR* d = OpenListing(dir_->fd());
  if (!d) return LastError();
  std::vector<BlockNum> found;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    BlockNum b;
    if (ParseBlockName(e->d_name, b) && b < geometry().num_blocks) found.push_back(b);
  }
  std::error_code ec = errno ? LastError() : std::error_code{};
  ::closedir(d);
  if (ec) return ec;
  for (BlockNum b : found) fn(b);
  return {};
}

}  // namespace s3bd
