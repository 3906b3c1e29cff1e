// BLAKE2b-256, keyed (blob ids) and unkeyed (file ids). docs/format.md, "Identifiers".
#pragma once

#include <string_view>

#include "base/bytes.h"
#include "base/id.h"
#include "crypto/secret.h"

namespace repo {

// Blob id: BLAKE2b-256 of `data` keyed with the repository's 32-byte id key, so ids reveal
// nothing about content to someone without the key. REQUIRES: key.size() == 32.
Id KeyedHash(const SecretBytes& key, ByteSpan data);

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
