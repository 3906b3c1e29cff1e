#include "crypto/key_file.h"

#include <sodium.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "crypto/aead.h"

namespace repo {

namespace {

constexpr uint8_t kMagic[4] = {'R', 'P', 'K', 'Y'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kKdfArgon2id13 = 1;  // on disk; libsodium's crypto_pwhash_ALG_ARGON2ID13
constexpr size_t kSaltSize = crypto_pwhash_SALTBYTES;
constexpr size_t kMaxNameSize = 255;
constexpr size_t kWrappedSize = 3 * MasterKeys::kKeySize;  // enc || id || chunker seed
constexpr size_t kSealedSize = kAeadNonceSize + kWrappedSize + kAeadTagSize;  // 136

// Sanity bounds tighter than libsodium's (4 TiB, 2^32-1 passes): a hostile or damaged key file
// must fail fast, not allocate terabytes or spin for hours. Far above any sensible setting
// (libsodium's "sensitive" level is 4 passes, 1 GiB).
constexpr uint64_t kMaxSaneMemlimit = uint64_t{4} << 30;
constexpr uint64_t kMaxSaneOpslimit = 1024;

static_assert(kSaltSize == 16);
static_assert(kAeadKeySize >= crypto_pwhash_BYTES_MIN);

uint64_t MinU64(uint64_t a, uint64_t b) { return a < b ? a : b; }

// Cuts `s` to at most kMaxNameSize bytes without splitting a UTF-8 sequence.
std::string_view TruncateName(std::string_view s) {
  if (s.size() <= kMaxNameSize) return s;
  size_t n = kMaxNameSize;
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Argon2id(password, salt) -> 32-byte wrapping key. REQUIRES: kdf.Validate().ok().
Result<SecretBytes> DeriveWrappingKey(const SecretBytes& password, ByteSpan salt,
                                      const KdfParams& kdf) {
  SecretBytes key(kAeadKeySize);
  static const char kNoPassword = 0;  // crypto_pwhash wants a non-null pointer even for ""
  const char* pw = password.empty() ? &kNoPassword : reinterpret_cast<const char*>(password.data());
  if (crypto_pwhash(key.data(), key.size(), pw, password.size(), salt.data(), kdf.opslimit,
                    static_cast<size_t>(kdf.memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::IOError("key file: Argon2id key derivation failed (out of memory? it needs " +
                           std::to_string(kdf.memlimit) + " bytes)");
  }
  return key;
}

struct ParsedKeyFile {
  KeyFileInfo info;
  ByteSpan salt;
  ByteSpan header;  // every byte before the sealed keys: the AEAD's associated data
  ByteSpan sealed;  // nonce || ciphertext || tag
};

Status Truncated() { return Status::Corruption("key file: truncated header"); }

Status ReadName(ByteReader* r, const char* field, std::string* out) {
  uint32_t n;
  if (!r->U32(&n)) return Truncated();
  if (n > kMaxNameSize) {
    return Status::Corruption("key file: " + std::string(field) + " length " + std::to_string(n) +
                              " exceeds " + std::to_string(kMaxNameSize));
  }
  ByteSpan b;
  if (!r->Raw(n, &b)) return Truncated();
  out->assign(AsChars(b));
  return Status::OK();
}

// Structural parse; authenticates nothing. Never reads outside `file`.
Result<ParsedKeyFile> Parse(ByteSpan file) {
  ParsedKeyFile p;
  ByteReader r(file);
  ByteSpan magic;
  if (!r.Raw(sizeof kMagic, &magic)) return Truncated();
  if (std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corruption("key file: bad magic (not a repo key file)");
  }
  if (!r.U8(&p.info.version)) return Truncated();
  if (p.info.version > kVersion) {
    return Status::UnsupportedVersion("key file version " + std::to_string(p.info.version) +
                                      " is newer than this repo binary supports (" +
                                      std::to_string(kVersion) + "); upgrade repo");
  }
  if (p.info.version == 0) return Status::Corruption("key file: invalid version 0");

  uint8_t alg;
  uint16_t reserved;
  uint64_t created;
  if (!r.U8(&alg) || !r.U16(&reserved) || !r.U64(&p.info.kdf.opslimit) ||
      !r.U64(&p.info.kdf.memlimit) || !r.Raw(kSaltSize, &p.salt) || !r.U64(&created)) {
    return Truncated();
  }
  if (alg != kKdfArgon2id13) {
    return Status::Corruption("key file: unknown KDF algorithm " + std::to_string(alg));
  }
  if (reserved != 0) return Status::Corruption("key file: reserved header field is not zero");
  if (Status st = p.info.kdf.Validate(); !st.ok()) {
    return Status::Corruption("key file: " + st.message());
  }
  p.info.created_unix = static_cast<int64_t>(created);
  RETURN_IF_ERROR(ReadName(&r, "hostname", &p.info.hostname));
  RETURN_IF_ERROR(ReadName(&r, "username", &p.info.username));
  p.header = file.first(r.position());
  if (!r.Raw(kSealedSize, &p.sealed)) return Status::Corruption("key file: truncated sealed keys");
  if (!r.done()) {
    return Status::Corruption("key file: " + std::to_string(r.remaining()) +
                              " trailing bytes after the sealed keys");
  }
  return p;
}

}  // namespace

KdfParams KdfParams::Default() {
  return KdfParams{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

Status KdfParams::Validate() const {
  const uint64_t max_ops = MinU64(crypto_pwhash_OPSLIMIT_MAX, kMaxSaneOpslimit);
  const uint64_t max_mem = MinU64(crypto_pwhash_MEMLIMIT_MAX, kMaxSaneMemlimit);
  if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > max_ops) {
    return Status::InvalidArgument("KDF opslimit " + std::to_string(opslimit) + " is outside " +
                                   std::to_string(crypto_pwhash_OPSLIMIT_MIN) + ".." +
                                   std::to_string(max_ops));
  }
  if (memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > max_mem) {
    return Status::InvalidArgument(
        "KDF memlimit " + std::to_string(memlimit) + " bytes is outside " +
        std::to_string(crypto_pwhash_MEMLIMIT_MIN) + ".." + std::to_string(max_mem));
  }
  return Status::OK();
}

Result<Bytes> CreateKeyFile(const MasterKeys& keys, const SecretBytes& password,
                            const KdfParams& kdf, const KeyFileInfo& info) {
  EnsureCryptoInit();
  RETURN_IF_ERROR(kdf.Validate());
  if (password.empty()) return Status::InvalidArgument("key file: the password is empty");
  if (password.size() > crypto_pwhash_PASSWD_MAX) {
    return Status::InvalidArgument("key file: the password is too long");
  }
  for (const SecretBytes* k : {&keys.enc_key, &keys.id_key, &keys.chunker_seed}) {
    if (k->size() != MasterKeys::kKeySize) {
      return Status::InvalidArgument("key file: master key of " + std::to_string(k->size()) +
                                     " bytes, need " + std::to_string(MasterKeys::kKeySize));
    }
  }

  uint8_t salt[kSaltSize];
  randombytes_buf(salt, sizeof salt);
  Bytes out;
  ByteWriter w(&out);
  w.Raw(kMagic);
  w.U8(kVersion);
  w.U8(kKdfArgon2id13);
  w.U16(0);
  w.U64(kdf.opslimit);
  w.U64(kdf.memlimit);
  w.Raw(salt);
  w.U64(static_cast<uint64_t>(info.created_unix));
  w.String(TruncateName(info.hostname));
  w.String(TruncateName(info.username));
  const size_t header_size = out.size();

  ASSIGN_OR_RETURN(SecretBytes wrapping_key, DeriveWrappingKey(password, salt, kdf));
  SecretBytes plain(kWrappedSize);
  std::memcpy(plain.data(), keys.enc_key.data(), MasterKeys::kKeySize);
  std::memcpy(plain.data() + MasterKeys::kKeySize, keys.id_key.data(), MasterKeys::kKeySize);
  std::memcpy(plain.data() + 2 * MasterKeys::kKeySize, keys.chunker_seed.data(),
              MasterKeys::kKeySize);
  SealAppend(wrapping_key, plain.span(), ByteSpan(out.data(), header_size), &out);
  return out;
}

Result<KeyFileInfo> ReadKeyFileInfo(ByteSpan file) {
  ASSIGN_OR_RETURN(ParsedKeyFile p, Parse(file));
  return std::move(p.info);
}

Result<MasterKeys> OpenKeyFile(ByteSpan file, const SecretBytes& password) {
  EnsureCryptoInit();
  ASSIGN_OR_RETURN(ParsedKeyFile p, Parse(file));
  if (password.size() > crypto_pwhash_PASSWD_MAX) {
    return Status::WrongPassword("wrong password or damaged key file");
  }
  ASSIGN_OR_RETURN(SecretBytes wrapping_key, DeriveWrappingKey(password, p.salt, p.info.kdf));

  // Decrypt straight into guarded memory (aead.h's Open would return an ordinary vector).
  const uint8_t* nonce = p.sealed.data();
  const uint8_t* ciphertext = nonce + kAeadNonceSize;
  const uint8_t* tag = ciphertext + kWrappedSize;
  SecretBytes plain(kWrappedSize);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          plain.data(), nullptr, ciphertext, kWrappedSize, tag, p.header.data(), p.header.size(),
          nonce, wrapping_key.data()) != 0) {
    return Status::WrongPassword("wrong password or damaged key file");
  }
  constexpr size_t k = MasterKeys::kKeySize;
  return MasterKeys{SecretBytes::CopyOf(plain.span().subspan(0, k)),
                    SecretBytes::CopyOf(plain.span().subspan(k, k)),
                    SecretBytes::CopyOf(plain.span().subspan(2 * k, k))};
}

}  // namespace repo
