// BLAKE2b-256, keyed (blob ids) and unkeyed (file ids). docs/format.md, "Identifiers".
#pragma once

#include <span>
#include <string_view>

#include "base/bytes.h"
#include "base/id.h"
#include "crypto/secret.h"

namespace repo {

// Blob id: BLAKE2b-256 of `data` keyed with the repository's 32-byte id key, so ids reveal
// nothing about content to someone without the key. REQUIRES: key.size() == 32.
Id KeyedHash(const SecretBytes& key, ByteSpan data);

// ids[i] = KeyedHash(key, data[i]) for every i: the same ids, computed eight messages at a time
// where the CPU has AVX-512 (crypto/blake2b_lanes.h), about three times faster per byte than one
// at a time. For batches of blobs. REQUIRES: key.size() == 32, ids.size() == data.size().
void KeyedHashMany(const SecretBytes& key, std::span<const ByteSpan> data, std::span<Id> ids);

// As KeyedHash, with BLAKE2b's 16-byte personalization parameter set to `domain` (zero-padded).
// Hashes of different domains are independent even for equal data and key: tree blob ids use
// this, so a tree can never be mistaken for a data blob with the same bytes.
// REQUIRES: key.size() == 32, domain.size() <= 16.
Id KeyedHashInDomain(const SecretBytes& key, std::string_view domain, ByteSpan data);

// File id: unkeyed BLAKE2b-256 of a stored file's bytes; anyone can verify a file against its name.
Id PlainHash(ByteSpan data);

// Incremental unkeyed BLAKE2b-256, for ids of files written piecewise (packs).
class Hasher {
 public:
  Hasher();
  void Update(ByteSpan data);
  // REQUIRES: called once.
  Id Final();

 private:
  alignas(64) unsigned char state_[384];  // crypto_generichash_state, opaque here
};

}  // namespace repo
