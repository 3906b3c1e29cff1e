#include "crypto/aead.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

namespace repo {

static_assert(kAeadKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);

namespace {

void RequireKeySize(const SecretBytes& key, const char* fn) {
  if (key.size() != kAeadKeySize) {
    std::fprintf(stderr, "repo: fatal: %s: AEAD key is %zu bytes, need %zu\n", fn, key.size(),
                 kAeadKeySize);
    std::abort();
  }
}

// True if `s` points into the storage of `v` (whose reallocation would invalidate it).
bool PointsInto(ByteSpan s, const Bytes& v) {
  if (s.empty() || v.capacity() == 0) return false;
  std::less<const uint8_t*> lt;
  const uint8_t* begin = v.data();
  const uint8_t* end = v.data() + v.capacity();
  return !lt(s.data(), begin) && lt(s.data(), end);
}

}  // namespace

void SealAppend(const SecretBytes& key, ByteSpan plaintext, ByteSpan ad, Bytes* out) {
  EnsureCryptoInit();
  RequireKeySize(key, "SealAppend");
  // Growing *out may move its storage; inputs that point into it are copied first. Only the
  // aliasing input is copied, so plaintext held in SecretBytes stays out of ordinary memory.
  if (PointsInto(plaintext, *out)) {
    Bytes copy(plaintext.begin(), plaintext.end());
    SealAppend(key, copy, ad, out);
    return;
  }
  if (PointsInto(ad, *out)) {
    Bytes copy(ad.begin(), ad.end());
    SealAppend(key, plaintext, copy, out);
    return;
  }
  const size_t start = out->size();
  out->resize(start + kAeadNonceSize + plaintext.size() + kAeadTagSize);
  uint8_t* nonce = out->data() + start;
  uint8_t* ciphertext = nonce + kAeadNonceSize;
  uint8_t* tag = ciphertext + plaintext.size();
  randombytes_buf(nonce, kAeadNonceSize);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ciphertext, tag, nullptr, plaintext.data(),
                                                      plaintext.size(), ad.data(), ad.size(),
                                                      nullptr, nonce, key.data());
}

Status OpenInto(const SecretBytes& key, ByteSpan sealed, ByteSpan ad, MutableByteSpan out) {
  EnsureCryptoInit();
  RequireKeySize(key, "Open");
  if (sealed.size() < kAeadOverhead) return Status::Corruption("authentication failed");
  const size_t n = sealed.size() - kAeadOverhead;
  if (out.size() != n) return Status::Corruption("length mismatch");
  const uint8_t* nonce = sealed.data();
  const uint8_t* ciphertext = nonce + kAeadNonceSize;
  const uint8_t* tag = ciphertext + n;
  // libsodium verifies the tag before decrypting anything.
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          out.data(), nullptr, ciphertext, n, tag, ad.data(), ad.size(), nonce, key.data()) != 0) {
    return Status::Corruption("authentication failed");
  }
  return Status::OK();
}

Status OpenInto(const SecretBytes& key, ByteSpan sealed, ByteSpan ad, Bytes* out) {
  out->resize(sealed.size() >= kAeadOverhead ? sealed.size() - kAeadOverhead : 0);
  return OpenInto(key, sealed, ad, MutableByteSpan(*out));
}

Result<Bytes> Open(const SecretBytes& key, ByteSpan sealed, ByteSpan ad) {
  Bytes plaintext;
  RETURN_IF_ERROR(OpenInto(key, sealed, ad, &plaintext));
  return plaintext;
}

}  // namespace repo
