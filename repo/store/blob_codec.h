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

#include <span>
#include <vector>

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
// ids[i] = ComputeBlobId(keys, type, plaintexts[i]); data blob ids of a batch are hashed several
// at a time (KeyedHashMany). REQUIRES: ids.size() == plaintexts.size().
void ComputeBlobIds(const MasterKeys& keys, BlobType type, std::span<const ByteSpan> plaintexts,
                    std::span<Id> ids);

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

// A stored blob as DecodeBlobs takes it.
struct SealedBlob {
  Id id;
  uint8_t flags = 0;
  uint32_t raw_length = 0;
  ByteSpan sealed;
};
// DecodeBlob of each blob into (*plain)[i], their ids re-hashed as one batch (ComputeBlobIds):
// the same checks, faster for the many blobs of a pack region. The buffers already in *plain are
// reused, so a caller decoding batch after batch allocates little. On error, *plain is
// unspecified.
Status DecodeBlobs(const MasterKeys& keys, BlobType type, std::span<const SealedBlob> blobs,
                   std::vector<Bytes>* plain);
// DecodeBlobs into memory the caller gives: plain[i] is exactly blobs[i].raw_length bytes
// (Corruption otherwise), for example consecutive slices of one buffer. On error the slices'
// contents are unspecified.
Status DecodeBlobsInto(const MasterKeys& keys, BlobType type, std::span<const SealedBlob> blobs,
                       std::span<const MutableByteSpan> plain);

}  // namespace repo
