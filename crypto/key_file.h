// Key files (keys/<id>): the master keys wrapped under a password. docs/format.md, "Key file".
//
// A key file has a plaintext, authenticated header (KDF parameters, salt, creation time, host and
// user) and the sealed master keys. The AEAD key is Argon2id(password, salt, opslimit, memlimit);
// the header is the AEAD's associated data, so a tampered parameter fails like a wrong password.
#pragma once

#include <cstdint>
#include <string>

#include "base/bytes.h"
#include "base/status.h"
#include "crypto/master_keys.h"
#include "crypto/secret.h"

namespace repo {

struct KdfParams {
  uint64_t opslimit = 0;  // Argon2id passes
  uint64_t memlimit = 0;  // bytes
  // libsodium's "interactive" Argon2id limits (2 passes, 64 MiB): about 0.1 s here, paid by every
  // command that opens the repository (wal-push runs once per WAL segment).
  static KdfParams Default();
  // OK iff within libsodium's Argon2id bounds and two sanity caps that keep a hostile key file
  // from costing terabytes or hours: memlimit <= 4 GiB, opslimit <= 1024 passes. InvalidArgument
  // naming the bad value otherwise.
  Status Validate() const;
};

struct KeyFileInfo {
  uint8_t version = 0;
  KdfParams kdf;
  int64_t created_unix = 0;  // seconds since the epoch
  std::string hostname;
  std::string username;
};

// Builds a key file wrapping `keys` under `password`. InvalidArgument if kdf is out of bounds or
// the password is empty.
Result<Bytes> CreateKeyFile(const MasterKeys& keys, const SecretBytes& password,
                            const KdfParams& kdf, const KeyFileInfo& info);

// Parses the plaintext header only (no password needed; not authenticated until opened).
// Corruption on malformed input, UnsupportedVersion on a newer version.
Result<KeyFileInfo> ReadKeyFileInfo(ByteSpan file);

// Unwraps the master keys. WrongPassword when the password (or the authenticated header) does
// not match; Corruption on malformed input; UnsupportedVersion on a newer version.
Result<MasterKeys> OpenKeyFile(ByteSpan file, const SecretBytes& password);

}  // namespace repo
