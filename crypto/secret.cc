#include "crypto/secret.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

namespace repo {

void EnsureCryptoInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "repo: fatal: libsodium failed to initialise (no randomness source?)\n");
      std::abort();
    }
  });
}

SecretBytes::SecretBytes(size_t n) {
  EnsureCryptoInit();
  if (n == 0) return;
  data_ = static_cast<uint8_t*>(sodium_malloc(n));
  if (data_ == nullptr) {
    std::fprintf(stderr, "repo: fatal: sodium_malloc(%zu) failed: out of memory\n", n);
    std::abort();
  }
  sodium_memzero(data_, n);  // sodium_malloc fills with 0xdb; the contract is zero bytes
  size_ = capacity_ = n;
}

SecretBytes SecretBytes::Random(size_t n) {
  SecretBytes s(n);
  if (n > 0) randombytes_buf(s.data_, n);
  return s;
}

SecretBytes SecretBytes::CopyOf(ByteSpan b) {
  SecretBytes s(b.size());
  if (!b.empty()) std::memcpy(s.data_, b.data(), b.size());
  return s;
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) {
    sodium_memzero(data_, capacity_);
    sodium_free(data_);  // also wipes, but say it explicitly
  }
}

SecretBytes::SecretBytes(SecretBytes&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      capacity_(std::exchange(o.capacity_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
  if (this != &o) {
    SecretBytes old(std::move(*this));  // wiped and freed at end of scope
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
  }
  return *this;
}

bool SecretBytes::Equals(const SecretBytes& o) const {
  if (size_ != o.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, o.data_, size_) == 0;
}

void SecretBytes::Truncate(size_t n) {
  if (n > size_) {
    std::fprintf(stderr, "repo: fatal: SecretBytes::Truncate(%zu) beyond size %zu\n", n, size_);
    std::abort();
  }
  if (n < size_) sodium_memzero(data_ + n, size_ - n);
  size_ = n;
}

}  // namespace repo
