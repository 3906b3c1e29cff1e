#include "crypto/master_keys.h"

namespace repo {

MasterKeys MasterKeys::Generate() {
  return MasterKeys{SecretBytes::Random(kKeySize), SecretBytes::Random(kKeySize),
                    SecretBytes::Random(kKeySize)};
}

MasterKeys MasterKeys::Clone() const {
  return MasterKeys{SecretBytes::CopyOf(enc_key.span()), SecretBytes::CopyOf(id_key.span()),
                    SecretBytes::CopyOf(chunker_seed.span())};
}

}  // namespace repo
