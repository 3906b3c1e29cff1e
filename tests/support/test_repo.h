// Helpers shared by the repo/ tests: deterministic test data, cheap key derivation and small
// repositories, and in-place edits of stored files.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "crypto/key_file.h"
#include "crypto/secret.h"
#include "repo/storage/backend.h"
#include "repo/store/repository.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/temp_dir.h"

namespace repo::test {

inline SecretBytes Password(std::string_view s) { return SecretBytes::CopyOf(AsBytes(s)); }

// The cheapest Argon2id parameters libsodium accepts (crypto_pwhash_OPSLIMIT_MIN/MEMLIMIT_MIN).
inline KdfParams FastKdf() { return KdfParams{1, 8192}; }

// Chunks of 16 KiB..256 KiB: valid with the smallest pack size (max chunk * 2 <= pack size).
inline ChunkerParams SmallChunker() { return ChunkerParams{16 << 10, 64 << 10, 256 << 10}; }

inline constexpr uint32_t kSmallPackSize = 1 << 20;  // the smallest pack size config allows

// A repository that is fast to create and open and rolls packs over after 1 MiB.
inline InitOptions SmallRepoOptions() {
  InitOptions o;
  o.chunker = SmallChunker();
  o.pack_size = kSmallPackSize;
  o.kdf = FastKdf();
  return o;
}

// `n` incompressible bytes, the same for the same seed.
inline Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) b[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  return b;
}

// `n` bytes of repetitive text that zstd shrinks well, different for different seeds.
inline Bytes CompressibleBytes(size_t n, uint64_t seed) {
  const std::string line = "line " + std::to_string(seed) + ": the quick brown fox jumps\n";
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(line[i % line.size()]);
  return b;
}

inline constexpr std::string_view kPassword = "correct horse battery staple";

// A Backend over `storage` that does not own it, for handing to a Repository (which takes
// ownership of its backend) while the test and other Repository instances keep using `storage`,
// as several processes share one repository directory. No fault is armed.
inline std::unique_ptr<FaultyBackend> Borrow(Backend& storage) {
  return std::make_unique<FaultyBackend>(storage);
}

// Makes a small repository in `storage` (which must hold none) with cache root `cache_dir`.
inline Result<std::unique_ptr<Repository>> InitSmallRepo(Backend& storage,
                                                         const std::string& cache_dir,
                                                         std::string_view password = kPassword) {
  return Repository::Init(Borrow(storage), Password(password), SmallRepoOptions(), cache_dir);
}

// Opens the repository in `storage` with cache root `cache_dir`.
inline Result<std::unique_ptr<Repository>> OpenRepo(Backend& storage, const std::string& cache_dir,
                                                    std::string_view password = kPassword) {
  return Repository::Open(Borrow(storage), Password(password), cache_dir);
}

// Replaces stored file `h` with `data` (files are immutable, so: delete, then write).
inline Status ReplaceFile(Backend& backend, const FileHandle& h, ByteSpan data) {
  RETURN_IF_ERROR(backend.Delete(h));
  return backend.Write(h, data);
}

// XORs byte `pos` of stored file `h` with `mask`.
inline Status FlipStoredByte(Backend& backend, const FileHandle& h, uint64_t pos,
                             uint8_t mask = 0x01) {
  ASSIGN_OR_RETURN(Bytes data, backend.Read(h));
  if (pos >= data.size()) return Status::InvalidArgument("flip past the end of " + h.Describe());
  data[pos] ^= mask;
  return ReplaceFile(backend, h, data);
}

}  // namespace repo::test
