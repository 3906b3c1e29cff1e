// MetadataStore: the one way to save and load the repository's metadata files (snapshot records,
// index files, key files; docs/format.md, "Layout").
//
// Such a file is named by the BLAKE2b-256 of its bytes. Saving seals nothing twice and writes
// once: the name follows from the bytes, so a file already there under that name holds the same
// bytes and AlreadyExists is success. Loading reads the file, checks that its bytes hash to its
// name (a renamed or damaged file is Corruption naming it) and, for encrypted objects, opens it
// (repo/store/object_codec.h). The config, whose name is fixed, is the Repository's own.
//
// A MetadataStore is a cheap value over a backend and the repository's encryption key, both of
// which must outlive it. Thread-safe.
#pragma once

#include <string>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "crypto/secret.h"
#include "repo/storage/backend.h"
#include "repo/store/object_codec.h"

namespace repo {

class MetadataStore {
 public:
  MetadataStore(Backend& backend, const SecretBytes& enc_key)
      : backend_(&backend), enc_key_(&enc_key) {}

  // Writes `file` (already encoded and sealed) as a file of `type` named by its hash, durably.
  // Returns the name.
  Result<Id> Write(FileType type, ByteSpan file) const;
  // The bytes of file `type`/<id>, checked against their name. NotFound if it is not there.
  Result<Bytes> Read(FileType type, const Id& id) const;

  // Seals `payload` as an encrypted object of `kind` and writes it (Write). Returns its id.
  Result<Id> Save(FileType type, ObjectKind kind, ByteSpan payload) const;
  // The payload of the object in file `type`/<id> (Read, then opened). UnsupportedVersion for a
  // newer object format; Corruption naming the file if it fails its name, header or tag.
  Result<Bytes> Load(FileType type, ObjectKind kind, const Id& id) const;
  // Load of `file`, the bytes of `type`/<id> as kept elsewhere (a local cache): checked against
  // the name and opened the same way, so a copy is trusted no more than the repository.
  Result<Bytes> Open(FileType type, ObjectKind kind, const Id& id, ByteSpan file) const;

  Backend& backend() const { return *backend_; }
  const SecretBytes& enc_key() const { return *enc_key_; }

  // "snapshot 1a2b3c4d", "index file 1a2b3c4d": how messages name file `type`/<id>.
  static std::string Describe(FileType type, const Id& id);

 private:
  Backend* backend_;
  const SecretBytes* enc_key_;
};

}  // namespace repo
