// Blob codec: plaintext <-> the sealed bytes stored in a pack (docs/format.md, "Blob").
//
//   id     = BLAKE2b-256 keyed with id_key over the plaintext; for tree blobs with BLAKE2b's
//            personalization set to "repo tree", so equal bytes never give a data and a tree the
//            same id
//   stored = nonce(24) || XChaCha20-Poly1305(zstd(plaintext) or plaintext) || tag(16)
//   AD     = type u8 || id (32)
//
// Binding type and id into the associated data means a blob moved to another id, or swapped with
// another, fails authentication. DecodeBlob re-hashes what it decrypted, so a reader can trust
// that the bytes it returns are the bytes whose id it asked for.
#pragma once

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "crypto/master_keys.h"
#include "index/blob_location.h"

namespace repo {

// Largest plaintext a blob can have (the largest pack size a config allows).
inline constexpr uint32_t kMaxBlobSize = 1u << 30;

// The id of a blob of `type` holding `plaintext`.
Id ComputeBlobId(const MasterKeys& keys, BlobType type, ByteSpan plaintext);

struct EncodedBlob {
  Bytes sealed;
  uint8_t flags = 0;  // kBlobFlagZstd if compressed
  uint32_t raw_length = 0;
};

// REQUIRES: plaintext.size() < 4 GiB, id == ComputeBlobId(keys, type, plaintext).
EncodedBlob EncodeBlob(const MasterKeys& keys, BlobType type, const Id& id, ByteSpan plaintext,
                       int zstd_level);

// The plaintext of a stored blob: authenticates, decompresses to exactly raw_length bytes, and
// checks the keyed hash equals `id`. Corruption naming the blob otherwise.
Result<Bytes> DecodeBlob(const MasterKeys& keys, BlobType type, const Id& id, uint8_t flags,
                         uint32_t raw_length, ByteSpan sealed);

}  // namespace repo
