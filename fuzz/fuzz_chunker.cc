// Fuzzes the FastCDC chunker (chunker/fastcdc.h) for its central promise: cut points do not
// depend on how the stream is split into Next() calls.
//
// Input: mode byte, then by mode % 2:
//   0 small:  3 bytes choosing avg = 2^(7 + a % 6), min in [64, avg), max in (avg, 9 avg], so
//             inputs of a few KiB hold many chunks;
//   1 raw:    min u32 | avg u32 | max u32 as given; inputs failing Validate() are dropped.
// then the stream. The gear table is fixed (splitmix64 of 0x33.. xor mode >> 1).
//
// Invariants (abort on violation): the stream scanned whole, in pieces of fuzzer-chosen sizes and
// (up to 16 KiB) one byte at a time gives identical cut points and pending(); every Next() result
// is in [0, piece size]; every chunk but the open last one has min <= size <= max, the open one
// fewer than max bytes; Reset() makes a second scan repeat the first.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "chunker/fastcdc.h"
#include "fuzz/fuzz_common.h"

namespace {

using repo::fuzz::LoadU32;

using repo::ByteSpan;

constexpr size_t kByteAtATimeLimit = 16 << 10;

repo::GearTable MakeGear(uint64_t tweak) {
  repo::GearTable gear;
  uint64_t x = 0x3333333333333333ull ^ tweak;
  for (uint64_t& g : gear) {  // splitmix64
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    g = z ^ (z >> 31);
  }
  return gear;
}

struct Scan {
  std::vector<size_t> cuts;  // stream offsets just past each closed chunk
  size_t pending = 0;
};

// Feeds `data` to `cdc` in pieces whose sizes `next_piece` returns (>= 1).
template <typename PieceSize>
Scan Run(repo::FastCdc& cdc, ByteSpan data, PieceSize next_piece) {
  Scan s;
  size_t at = 0;
  while (at < data.size()) {
    ByteSpan piece = data.subspan(at, std::min(next_piece(), data.size() - at));
    const size_t piece_end = at + piece.size();
    while (!piece.empty()) {
      const size_t n = cdc.Next(piece);
      FUZZ_CHECK(n <= piece.size());
      if (n == 0) break;
      at += n;
      s.cuts.push_back(at);
      piece = piece.subspan(n);
    }
    at = piece_end;
  }
  s.pending = cdc.pending();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  ByteSpan in(data + 1, size - 1);
  repo::ChunkerParams params;
  if (mode % 2 == 0) {
    if (in.size() < 3) return 0;
    params.avg_size = 1u << (7 + in[0] % 6);
    params.min_size = 64 + in[1] * (params.avg_size - 64) / 256;
    params.max_size = params.avg_size + 1 + in[2] * params.avg_size / 32;
    FUZZ_CHECK(params.Validate().ok());
    in = in.subspan(3);
  } else {
    if (in.size() < 12) return 0;
    params.min_size = LoadU32(in.data());
    params.avg_size = LoadU32(in.data() + 4);
    params.max_size = LoadU32(in.data() + 8);
    in = in.subspan(12);
    if (!params.Validate().ok()) return 0;
  }
  const repo::GearTable gear = MakeGear(mode >> 1);

  repo::FastCdc whole_cdc(params, gear);
  const Scan whole = Run(whole_cdc, in, [&] { return in.size(); });

  size_t prev = 0;
  for (size_t cut : whole.cuts) {
    FUZZ_CHECK(cut - prev >= params.min_size && cut - prev <= params.max_size);
    prev = cut;
  }
  FUZZ_CHECK(prev + whole.pending == in.size());
  FUZZ_CHECK(whole.pending < params.max_size);

  // Pieces of 1..256 bytes (occasionally 4 KiB), sizes drawn from the stream itself.
  repo::FastCdc pieces_cdc(params, gear);
  size_t k = 0;
  const Scan pieces = Run(pieces_cdc, in, [&]() -> size_t {
    const uint8_t b = in.empty() ? 0 : in[(k++ * 131) % in.size()];
    return b == 0 ? 4096 : b;
  });
  FUZZ_CHECK(pieces.cuts == whole.cuts && pieces.pending == whole.pending);

  if (in.size() <= kByteAtATimeLimit) {
    repo::FastCdc bytes_cdc(params, gear);
    const Scan bytes = Run(bytes_cdc, in, [] { return size_t{1}; });
    FUZZ_CHECK(bytes.cuts == whole.cuts && bytes.pending == whole.pending);
  }

  whole_cdc.Reset();
  FUZZ_CHECK(whole_cdc.pending() == 0);
  const Scan again = Run(whole_cdc, in, [&] { return in.size(); });
  FUZZ_CHECK(again.cuts == whole.cuts && again.pending == whole.pending);
  return 0;
}

// Seeds: random-looking, low-entropy (runs, like a pg_dump's padding) and text streams.
std::vector<repo::Bytes> FuzzSeeds() {
  std::vector<repo::Bytes> seeds;
  uint32_t x = 2463534242u;
  auto next = [&] {  // xorshift32
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  repo::Bytes noise{0, 2, 100, 200};  // avg 512, min ~290, max ~3700
  for (int i = 0; i < 8192; ++i) noise.push_back(static_cast<uint8_t>(next()));
  seeds.push_back(noise);

  repo::Bytes runs{2, 0, 0, 0};  // avg 128, min 64, max 129
  for (int row = 0; row < 60; ++row) {
    runs.insert(runs.end(), 84, ' ');
    for (int i = 0; i < 10; ++i) runs.push_back(static_cast<uint8_t>('0' + (next() % 10)));
    runs.push_back('\n');
  }
  seeds.push_back(runs);

  repo::Bytes raw{1};  // raw params: 256 / 1024 / 8192
  repo::ByteWriter w(&raw);
  w.U32(256);
  w.U32(1024);
  w.U32(8192);
  for (int i = 0; i < 6000; ++i)
    raw.push_back(static_cast<uint8_t>("the quick brown fox "[i % 20] ^ (next() % 3 == 0)));
  seeds.push_back(raw);

  repo::Bytes invalid{3};  // fails Validate: avg not a power of two
  repo::ByteWriter iw(&invalid);
  iw.U32(64);
  iw.U32(100);
  iw.U32(1000);
  seeds.push_back(invalid);
  return seeds;
}
