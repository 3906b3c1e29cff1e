// What every fuzz target shares: the invariant check and the fixed keys (so that the committed
// corpus holds validly sealed inputs that reach deep into the parsers).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "base/bytes.h"
#include "crypto/master_keys.h"
#include "crypto/secret.h"

// Aborts (a finding for libFuzzer) when an invariant does not hold.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace repo::fuzz {

// The same fixed keys in every fuzz target: enc 0x11.., id 0x22.., chunker seed 0x33...
inline const MasterKeys& FixedKeys() {
  static const MasterKeys keys{SecretBytes::CopyOf(Bytes(32, 0x11)),
                               SecretBytes::CopyOf(Bytes(32, 0x22)),
                               SecretBytes::CopyOf(Bytes(32, 0x33))};
  return keys;
}
inline const SecretBytes& EncKey() { return FixedKeys().enc_key; }

inline uint32_t LoadU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// A seed for a target whose first input byte selects its mode: `mode` then `body`.
inline Bytes WithMode(uint8_t mode, ByteSpan body) {
  Bytes b{mode};
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

}  // namespace repo::fuzz
