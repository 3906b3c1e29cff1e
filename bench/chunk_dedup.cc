// chunk_dedup [--seed N] FILE1 FILE2 [MIN AVG MAX]...
//
// Measures what a second backup would store: chunks both files with FastCDC (a pseudo-random gear
// table from a fixed seed, or from N: repositories have secret seeds, so results must hold for
// any) under each parameter set and prints, per set, FILE2's chunk count and
// mean chunk size, the distinct chunks and bytes of FILE2 that FILE1 does not contain (what the
// repository would add), that plus the per-chunk repository overhead, and the chunking throughput.
// Without parameter sets it uses ChunkerParams::Default(). Used to choose the default chunk sizes
// (docs/perf.md, "Chunk size"; bench/chunk_sizes.sh runs it).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/bytes.h"
#include "chunker/fastcdc.h"

namespace repo {
namespace {

// Per new chunk in a pack: 24-byte nonce + 16-byte tag + 46-byte pack-header entry.
constexpr uint64_t kPackOverheadPerChunk = 90;
// Per chunk in the index (RocksDB data and cache), whether new or not.
constexpr uint64_t kIndexBytesPerChunk = 100;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool ReadFile(const char* path, Bytes* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// A chunk's identity: 64-bit content hash plus length (at most ~10^6 chunks here, so a chance
// collision is below 10^-7).
struct ChunkKey {
  uint64_t hash;
  uint64_t size;
  bool operator==(const ChunkKey&) const = default;
};
struct ChunkKeyHash {
  size_t operator()(const ChunkKey& k) const { return k.hash ^ (k.size * 0x9e3779b97f4a7c15ULL); }
};

// Chunk lengths of `data`, and the seconds spent in FastCdc::Next.
std::vector<size_t> Chunk(const ChunkerParams& params, const GearTable& gear, ByteSpan data,
                          double* seconds) {
  std::vector<size_t> sizes;
  const auto start = std::chrono::steady_clock::now();
  FastCdc cdc(params, gear);
  while (size_t n = cdc.Next(data)) {
    sizes.push_back(n);
    data = data.subspan(n);
  }
  if (cdc.pending() > 0) sizes.push_back(cdc.pending());
  *seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sizes;
}

template <typename F>
void ForEachChunk(ByteSpan data, const std::vector<size_t>& sizes, F f) {
  for (size_t n : sizes) {
    f(ChunkKey{std::hash<std::string_view>()(AsChars(data.first(n))), n});
    data = data.subspan(n);
  }
}

std::string Size(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) {
    std::snprintf(buf, sizeof buf, "%lluM", static_cast<unsigned long long>(bytes >> 20));
  } else if (bytes >= 1024 && bytes % 1024 == 0) {
    std::snprintf(buf, sizeof buf, "%lluK", static_cast<unsigned long long>(bytes >> 10));
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

int Main(int argc, char** argv) {
  uint64_t seed = 0x243f6a8885a308d3ULL;
  if (argc >= 3 && std::string_view(argv[1]) == "--seed") {
    seed = std::strtoull(argv[2], nullptr, 0);
    argv += 2;
    argc -= 2;
  }
  if (argc < 3 || (argc - 3) % 3 != 0) {
    std::fprintf(stderr, "usage: chunk_dedup [--seed N] FILE1 FILE2 [MIN AVG MAX]...\n");
    return 2;
  }
  Bytes file1, file2;
  for (auto [path, out] : {std::pair{argv[1], &file1}, std::pair{argv[2], &file2}}) {
    if (!ReadFile(path, out)) {
      std::fprintf(stderr, "chunk_dedup: cannot read %s\n", path);
      return 1;
    }
  }
  std::vector<ChunkerParams> sets;
  for (int i = 3; i < argc; i += 3) {
    ChunkerParams p;
    p.min_size = static_cast<uint32_t>(std::strtoul(argv[i], nullptr, 0));
    p.avg_size = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 0));
    p.max_size = static_cast<uint32_t>(std::strtoul(argv[i + 2], nullptr, 0));
    if (Status s = p.Validate(); !s.ok()) {
      std::fprintf(stderr, "chunk_dedup: %s\n", s.ToString().c_str());
      return 2;
    }
    sets.push_back(p);
  }
  if (sets.empty()) sets.push_back(ChunkerParams::Default());

  GearTable gear;
  for (auto& g : gear) g = SplitMix64(&seed);

  std::printf("FILE1 %s (%zu bytes), FILE2 %s (%zu bytes)\n", argv[1], file1.size(), argv[2],
              file2.size());
  std::printf("%-16s %9s %9s %10s %13s %7s %13s %11s %8s\n", "min/avg/max", "chunks", "mean",
              "new_chunks", "new_bytes", "new%", "added_bytes", "index_bytes", "MB/s");
  for (const ChunkerParams& p : sets) {
    double seconds = 0;
    const std::vector<size_t> sizes1 = Chunk(p, gear, file1, &seconds);
    const std::vector<size_t> sizes2 = Chunk(p, gear, file2, &seconds);

    std::unordered_set<ChunkKey, ChunkKeyHash> old_chunks, new_chunks;
    ForEachChunk(file1, sizes1, [&](const ChunkKey& k) { old_chunks.insert(k); });
    uint64_t new_bytes = 0;
    ForEachChunk(file2, sizes2, [&](const ChunkKey& k) {
      if (!old_chunks.contains(k) && new_chunks.insert(k).second) new_bytes += k.size;
    });
    const double mean = sizes2.empty() ? 0 : static_cast<double>(file2.size()) / sizes2.size();
    const double mbps = (file1.size() + file2.size()) / seconds / 1e6;
    const std::string label = Size(p.min_size) + "/" + Size(p.avg_size) + "/" + Size(p.max_size);
    std::printf(
        "%-16s %9zu %9.0f %10zu %13llu %6.2f%% %13llu %11llu %8.0f\n", label.c_str(), sizes2.size(),
        mean, new_chunks.size(), static_cast<unsigned long long>(new_bytes),
        file2.empty() ? 0.0 : 100.0 * new_bytes / file2.size(),
        static_cast<unsigned long long>(new_bytes + kPackOverheadPerChunk * new_chunks.size()),
        static_cast<unsigned long long>(kIndexBytesPerChunk * sizes2.size()), mbps);
  }
  return 0;
}

}  // namespace
}  // namespace repo

int main(int argc, char** argv) { return repo::Main(argc, argv); }
