// Authenticated encryption of every stored object: XChaCha20-Poly1305 (IETF), random 192-bit
// nonces. Why this AEAD and not AES-256-GCM: docs/design.md, "Cryptography" (measured there).
//
// Sealed layout: nonce (24) || ciphertext (len(plaintext)) || tag (16). Seal picks its own nonce;
// callers cannot supply one. Open says only "authentication failed" and returns no plaintext on
// failure. Thread-safe: keys are read-only.
#pragma once

#include "base/bytes.h"
#include "base/status.h"
#include "crypto/secret.h"

namespace repo {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 24;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceSize + kAeadTagSize;

// Appends the sealed form of `plaintext` to `*out`; `ad` is authenticated, not stored.
// REQUIRES: key.size() == kAeadKeySize.
void SealAppend(const SecretBytes& key, ByteSpan plaintext, ByteSpan ad, Bytes* out);
inline Bytes Seal(const SecretBytes& key, ByteSpan plaintext, ByteSpan ad) {
  Bytes out;
  SealAppend(key, plaintext, ad, &out);
  return out;
}

// Returns the plaintext of `sealed`, or Corruption("authentication failed") when the bytes, the
// key or `ad` do not match (including inputs shorter than kAeadOverhead).
[[nodiscard]] Result<Bytes> Open(const SecretBytes& key, ByteSpan sealed, ByteSpan ad);
// Open into *out, resized to the plaintext's size: a caller opening many blobs reuses one
// buffer's memory. On failure *out's contents are unspecified (never the plaintext).
[[nodiscard]] Status OpenInto(const SecretBytes& key, ByteSpan sealed, ByteSpan ad, Bytes* out);
// Open into `out`, which must be exactly the plaintext's size (sealed.size() - kAeadOverhead;
// Corruption otherwise): lets a reader place plaintexts side by side in one buffer.
[[nodiscard]] Status OpenInto(const SecretBytes& key, ByteSpan sealed, ByteSpan ad,
                              MutableByteSpan out);

}  // namespace repo
