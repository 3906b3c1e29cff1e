// Throughput of the crypto primitives on every stored object: BLAKE2b-256 ids and
// XChaCha20-Poly1305 Seal/Open through the public API, and AES-256-GCM straight from libsodium
// for comparison (the AEAD choice is argued in docs/design.md, "Cryptography").
//
// <sodium.h> is included here only for the AES-256-GCM baseline; repo code goes through crypto/.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <vector>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/secret.h"

namespace repo {
namespace {

Bytes Input(size_t n) {
  Bytes b(n);
  randombytes_buf(b.data(), b.size());
  return b;
}

const Bytes& Ad() {
  static const Bytes ad = {'b', 'l', 'o', 'b'};
  return ad;
}

void BM_KeyedHash(benchmark::State& state) {
  EnsureCryptoInit();
  SecretBytes key = SecretBytes::Random(32);
  Bytes in = Input(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(KeyedHash(key, in));
  state.SetBytesProcessed(state.iterations() * in.size());
}

// Blob ids of a batch of 32 chunks of 4-64 KiB (the chunker's range; mean ~34 KiB), as a snapshot
// worker hashes them: arg 1 = KeyedHashMany (eight lanes with AVX-512), arg 0 = one at a time.
void BM_KeyedHashBatch(benchmark::State& state) {
  EnsureCryptoInit();
  SecretBytes key = SecretBytes::Random(32);
  Bytes in = Input(32 * (64 << 10));
  std::vector<ByteSpan> chunks;
  uint64_t x = 1, total = 0;
  for (size_t off = 0; chunks.size() < 32;) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t len = (4 << 10) + (x >> 33) % (60 << 10);
    chunks.push_back(ByteSpan(in).subspan(off, len));
    off += len;
    total += len;
  }
  std::vector<Id> ids(chunks.size());
  for (auto _ : state) {
    if (state.range(0)) {
      KeyedHashMany(key, chunks, ids);
    } else {
      for (size_t i = 0; i < chunks.size(); ++i) ids[i] = KeyedHash(key, chunks[i]);
    }
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(state.iterations() * total);
}

void BM_XChaCha20Poly1305Seal(benchmark::State& state) {
  EnsureCryptoInit();
  SecretBytes key = SecretBytes::Random(kAeadKeySize);
  Bytes in = Input(state.range(0));
  Bytes out;
  for (auto _ : state) {
    out.clear();  // keeps capacity, as a pack writer reusing its buffer would
    SealAppend(key, in, Ad(), &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * in.size());
}

void BM_XChaCha20Poly1305Open(benchmark::State& state) {
  EnsureCryptoInit();
  SecretBytes key = SecretBytes::Random(kAeadKeySize);
  Bytes sealed = Seal(key, Input(state.range(0)), Ad());
  for (auto _ : state) {
    Result<Bytes> pt = Open(key, sealed, Ad());  // allocates its result, as callers see it
    if (!pt.ok()) state.SkipWithError("Open failed");
    benchmark::DoNotOptimize(pt->data());
  }
  state.SetBytesProcessed(state.iterations() * (sealed.size() - kAeadOverhead));
}

bool RequireAesGcm(benchmark::State& state) {
  EnsureCryptoInit();
  if (crypto_aead_aes256gcm_is_available()) return true;
  state.SkipWithError("AES-256-GCM unavailable (libsodium needs AES-NI and PCLMUL)");
  return false;
}

// Same shape as SealAppend: fresh random nonce per message, detached tag, reused buffers.
void BM_Aes256GcmSeal(benchmark::State& state) {
  if (!RequireAesGcm(state)) return;
  uint8_t key[crypto_aead_aes256gcm_KEYBYTES];
  crypto_aead_aes256gcm_keygen(key);
  Bytes in = Input(state.range(0));
  Bytes out(crypto_aead_aes256gcm_NPUBBYTES + in.size() + crypto_aead_aes256gcm_ABYTES);
  for (auto _ : state) {
    uint8_t* nonce = out.data();
    uint8_t* ct = nonce + crypto_aead_aes256gcm_NPUBBYTES;
    randombytes_buf(nonce, crypto_aead_aes256gcm_NPUBBYTES);
    crypto_aead_aes256gcm_encrypt_detached(ct, ct + in.size(), nullptr, in.data(), in.size(),
                                           Ad().data(), Ad().size(), nullptr, nonce, key);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * in.size());
}

void BM_Aes256GcmOpen(benchmark::State& state) {
  if (!RequireAesGcm(state)) return;
  uint8_t key[crypto_aead_aes256gcm_KEYBYTES];
  crypto_aead_aes256gcm_keygen(key);
  Bytes in = Input(state.range(0));
  uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES];
  randombytes_buf(nonce, sizeof nonce);
  Bytes ct(in.size()), pt(in.size());
  uint8_t tag[crypto_aead_aes256gcm_ABYTES];
  crypto_aead_aes256gcm_encrypt_detached(ct.data(), tag, nullptr, in.data(), in.size(), Ad().data(),
                                         Ad().size(), nullptr, nonce, key);
  for (auto _ : state) {
    if (crypto_aead_aes256gcm_decrypt_detached(pt.data(), nullptr, ct.data(), ct.size(), tag,
                                               Ad().data(), Ad().size(), nonce, key) != 0) {
      state.SkipWithError("AES-256-GCM open failed");
    }
    benchmark::DoNotOptimize(pt.data());
  }
  state.SetBytesProcessed(state.iterations() * in.size());
}

#define REPO_CRYPTO_SIZES ->Arg(64 << 10)->Arg(1 << 20)
BENCHMARK(BM_KeyedHash) REPO_CRYPTO_SIZES;
BENCHMARK(BM_KeyedHashBatch)->Arg(0)->Arg(1);
BENCHMARK(BM_XChaCha20Poly1305Seal) REPO_CRYPTO_SIZES;
BENCHMARK(BM_XChaCha20Poly1305Open) REPO_CRYPTO_SIZES;
BENCHMARK(BM_Aes256GcmSeal) REPO_CRYPTO_SIZES;
BENCHMARK(BM_Aes256GcmOpen) REPO_CRYPTO_SIZES;
#undef REPO_CRYPTO_SIZES

}  // namespace
}  // namespace repo
