// The repository's master keys: generated once by `repo init`, stored only inside key files
// (crypto/key_file.h), never on disk in the clear.
#pragma once

#include "crypto/secret.h"

namespace repo {

struct MasterKeys {
  SecretBytes enc_key;       // 32 bytes: AEAD key for every stored object
  SecretBytes id_key;        // 32 bytes: BLAKE2b key for blob ids
  SecretBytes chunker_seed;  // 32 bytes: derives the FastCDC gear table (repo/store/repository.cc)

  static constexpr size_t kKeySize = 32;
  // Three fresh keys from the CSPRNG.
  static MasterKeys Generate();
  MasterKeys Clone() const;
};

}  // namespace repo
