// FastCdc::Next throughput on 64 MiB of random data with the default parameters. Target: at
// least 1 GB/s on one core (docs/perf.md, "Chunker throughput").
#include <benchmark/benchmark.h>

#include <cstdint>

#include "base/bytes.h"
#include "chunker/fastcdc.h"

namespace repo {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void BM_FastCdcNext(benchmark::State& state) {
  constexpr size_t kSize = 64u << 20;
  Bytes data(kSize);
  uint64_t rng = 42;
  for (size_t i = 0; i < kSize; i += 8) {
    const uint64_t v = SplitMix64(&rng);
    for (int k = 0; k < 8; ++k) data[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  GearTable gear;
  for (auto& g : gear) g = SplitMix64(&rng);

  FastCdc cdc(ChunkerParams::Default(), gear);
  size_t chunks = 0;
  for (auto _ : state) {
    cdc.Reset();
    ByteSpan rest = data;
    while (size_t n = cdc.Next(rest)) {
      rest = rest.subspan(n);
      ++chunks;
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kSize);
}
BENCHMARK(BM_FastCdcNext)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace repo
