// Encrypted objects: the envelope of config, index files and snapshots (docs/format.md,
// "Encrypted object").
//
//   magic "RPOB" | version u8 | kind u8 | flags u8 | reserved u8 | nonce(24) ciphertext tag(16)
//
// The 8-byte header is the AEAD associated data, so an object cannot be passed off as another
// kind or have its flags changed. The payload is zstd-compressed first when that makes it smaller.
#pragma once

#include "base/bytes.h"
#include "base/status.h"
#include "crypto/secret.h"

namespace repo {

enum class ObjectKind : uint8_t { kConfig = 1, kIndex = 2, kSnapshot = 3, kSession = 4 };

inline constexpr uint8_t kObjectVersion = 1;
inline constexpr size_t kObjectHeaderSize = 8;

Bytes SealObject(const SecretBytes& enc_key, ObjectKind kind, ByteSpan payload);

// The payload of `object`. UnsupportedVersion if written by a newer format; Corruption if the
// magic, kind or flags are wrong or authentication fails. `what` names the file in messages.
Result<Bytes> OpenObject(const SecretBytes& enc_key, ObjectKind kind, ByteSpan object,
                         const std::string& what);

// Checks only the plaintext header (magic, version, kind): lets `repo` refuse a newer format
// before asking for a password.
Status CheckObjectHeader(ObjectKind kind, ByteSpan object, const std::string& what);

}  // namespace repo
