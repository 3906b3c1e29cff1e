// Write path below the chunker: blob encoding (zstd + XChaCha20-Poly1305 + id hash) and the
// blob store writing packs and index files to a real local repository (fsync included).
// Figures: docs/perf.md, "Pack write".
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "crypto/hash.h"
#include "repo/storage/local_backend.h"
#include "repo/store/blob_codec.h"
#include "repo/store/repository.h"

namespace repo {
namespace {

// 64 KiB blobs that compress about 2:1, like typical file and dump content.
std::vector<Bytes> MakeBlobs(size_t count, size_t size) {
  std::mt19937_64 rng(42);
  std::vector<Bytes> blobs(count, Bytes(size));
  for (Bytes& b : blobs) {
    for (size_t i = 0; i < size; i += 8) {
      uint64_t v = rng();
      for (size_t k = 0; k < 8 && i + k < size; ++k)
        b[i + k] = (k < 4) ? uint8_t(v >> (8 * k)) : 'a';
    }
  }
  return blobs;
}

void BM_EncodeBlob(benchmark::State& state) {
  MasterKeys keys = MasterKeys::Generate();
  auto blobs = MakeBlobs(64, 64 << 10);
  size_t i = 0;
  for (auto _ : state) {
    const Bytes& b = blobs[i++ % blobs.size()];
    Id id = KeyedHash(keys.id_key, b);
    EncodedBlob e = EncodeBlob(keys, BlobType::kData, id, b, static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(e.sealed.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * (64 << 10));
  state.SetLabel("zstd level " + std::to_string(state.range(0)));
}
BENCHMARK(BM_EncodeBlob)->Arg(0)->Arg(1)->Arg(3);

// BlobStore::Put of 128 MiB of distinct 64 KiB blobs into a fresh local repository, then Flush:
// packs of state.range(0) MiB, each fsync'd with its directory, plus index files. zstd off, so the
// figure shows what the pack size itself costs (docs/perf.md, "Pack size").
void BM_BlobStorePut(benchmark::State& state) {
  auto blobs = MakeBlobs(2048, 64 << 10);
  for (auto _ : state) {
    state.PauseTiming();
    std::string dir = std::filesystem::temp_directory_path() / "repo-bench-XXXXXX";
    if (!mkdtemp(dir.data())) state.SkipWithError("mkdtemp failed");
    InitOptions opts;
    opts.kdf = {1, 8192};
    opts.zstd_level = 0;
    opts.pack_size = static_cast<uint32_t>(state.range(0)) << 20;
    auto backend = LocalBackend::Create(dir + "/repo");
    auto repo = Repository::Init(std::move(backend).value(), SecretBytes::CopyOf(AsBytes("pw")),
                                 opts, dir + "/cache");
    BlobStore* store = *(*repo)->blobs();
    state.ResumeTiming();
    for (const Bytes& b : blobs) benchmark::DoNotOptimize(store->Put(BlobType::kData, b).ok());
    if (!store->Flush().ok()) state.SkipWithError("flush failed");
    state.PauseTiming();
    state.counters["packs"] = static_cast<double>(store->stats().packs_written);
    repo->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * 2048 * (64 << 10));
  state.SetLabel(std::to_string(state.range(0)) + " MiB packs");
}
BENCHMARK(BM_BlobStorePut)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

}  // namespace
}  // namespace repo
