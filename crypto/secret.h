// SecretBytes: key material and passwords in guarded memory.
//
// Storage comes from sodium_malloc (guard pages, mlock where allowed) and is wiped with
// sodium_memzero and freed on destruction. Move-only; never copied implicitly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bytes.h"

namespace repo {

// Initialises libsodium. Idempotent and thread-safe; every crypto entry point calls it, so callers
// need not. Aborts the process if libsodium cannot initialise (no usable randomness source).
void EnsureCryptoInit();

class SecretBytes {
 public:
  SecretBytes() = default;
  // `n` zero bytes in guarded memory. Aborts on allocation failure, like operator new.
  explicit SecretBytes(size_t n);
  // `n` bytes from the system CSPRNG.
  static SecretBytes Random(size_t n);
  static SecretBytes CopyOf(ByteSpan b);
  ~SecretBytes();
  SecretBytes(SecretBytes&& o) noexcept;
  SecretBytes& operator=(SecretBytes&& o) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteSpan span() const { return {data_, size_}; }
  // Constant-time comparison.
  bool Equals(const SecretBytes& o) const;
  // Shrinks the visible size (e.g. after reading a password into a larger buffer).
  // REQUIRES: n <= size().
  void Truncate(size_t n);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace repo
