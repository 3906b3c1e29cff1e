#include "crypto/blake2b_lanes.h"

// GCC 12's AVX-512 headers trip -Wuninitialized in their own set1/setzero (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

// Every function that touches a 512-bit register is compiled for AVX-512F alone; the rest of
// the binary stays generic x86-64, and Blake2bLanesAvailable() decides at run time.
#define LANES_TARGET __attribute__((target("avx512f")))

namespace repo {
namespace {

constexpr size_t kBlock = 128;
constexpr int kLanes = 8;

// RFC 7693, section 2.6 and 2.7.
constexpr uint64_t kIv[8] = {0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b,
                             0xa54ff53a5f1d36f1, 0x510e527fade682d1, 0x9b05688c2b3e6c1f,
                             0x1f83d9abfb41bd6b, 0x5be0cd19137e2179};
// Round r uses kSigma[r % 10].
constexpr uint8_t kSigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};
// Parameter block word 0: digest length 32, key length 32, fanout 1, depth 1.
constexpr uint64_t kParam0 = 0x01010000 | (32 << 8) | 32;

alignas(64) constexpr uint8_t kZeroBlock[kBlock] = {};

LANES_TARGET inline __m512i Splat(uint64_t x) {
  return _mm512_set1_epi64(static_cast<long long>(x));
}

LANES_TARGET inline void G(__m512i& a, __m512i& b, __m512i& c, __m512i& d, __m512i x, __m512i y) {
  a = _mm512_add_epi64(_mm512_add_epi64(a, b), x);
  d = _mm512_ror_epi64(_mm512_xor_si512(d, a), 32);
  c = _mm512_add_epi64(c, d);
  b = _mm512_ror_epi64(_mm512_xor_si512(b, c), 24);
  a = _mm512_add_epi64(_mm512_add_epi64(a, b), y);
  d = _mm512_ror_epi64(_mm512_xor_si512(d, a), 16);
  c = _mm512_add_epi64(c, d);
  b = _mm512_ror_epi64(_mm512_xor_si512(b, c), 63);
}

// The compression function F in every lane: lane j of h[i] is word i of message j's state, lane
// j of m[i] word i of its block, of t its byte counter (messages stay below 2^64 bytes, so the
// counter's high word is 0), and `last` is all ones in the lanes whose block is their final one.
LANES_TARGET void Compress(__m512i h[8], const __m512i m[16], __m512i t, __m512i last) {
  __m512i v[16];
  for (int i = 0; i < 8; ++i) v[i] = h[i];
  for (int i = 0; i < 4; ++i) v[8 + i] = Splat(kIv[i]);
  v[12] = _mm512_xor_si512(Splat(kIv[4]), t);
  v[13] = Splat(kIv[5]);
  v[14] = _mm512_xor_si512(Splat(kIv[6]), last);
  v[15] = Splat(kIv[7]);
#pragma GCC unroll 12
  for (int r = 0; r < 12; ++r) {
    const uint8_t* s = kSigma[r % 10];
    G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
    G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
    G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
    G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
    G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
    G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
    G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
    G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; ++i) h[i] = _mm512_xor_si512(h[i], _mm512_xor_si512(v[i], v[i + 8]));
}

// m[i] = word i of the 128-byte blocks at p[0..7], one block per lane: two 8x8 transposes of
// 64-bit words (row j = 64 bytes of block j; afterwards, vector i = word i of every block).
LANES_TARGET void LoadBlocks(const uint8_t* const p[kLanes], __m512i m[16]) {
  for (int half = 0; half < 2; ++half) {
    __m512i r[8];
    for (int j = 0; j < 8; ++j) r[j] = _mm512_loadu_si512(p[j] + 64 * half);
    const __m512i t0 = _mm512_unpacklo_epi64(r[0], r[1]), t1 = _mm512_unpackhi_epi64(r[0], r[1]);
    const __m512i t2 = _mm512_unpacklo_epi64(r[2], r[3]), t3 = _mm512_unpackhi_epi64(r[2], r[3]);
    const __m512i t4 = _mm512_unpacklo_epi64(r[4], r[5]), t5 = _mm512_unpackhi_epi64(r[4], r[5]);
    const __m512i t6 = _mm512_unpacklo_epi64(r[6], r[7]), t7 = _mm512_unpackhi_epi64(r[6], r[7]);
    // 0x88 takes 128-bit lanes 0 and 2 of each source, 0xdd lanes 1 and 3.
    const __m512i u0 = _mm512_shuffle_i64x2(t0, t2, 0x88), u1 = _mm512_shuffle_i64x2(t0, t2, 0xdd);
    const __m512i u2 = _mm512_shuffle_i64x2(t1, t3, 0x88), u3 = _mm512_shuffle_i64x2(t1, t3, 0xdd);
    const __m512i u4 = _mm512_shuffle_i64x2(t4, t6, 0x88), u5 = _mm512_shuffle_i64x2(t4, t6, 0xdd);
    const __m512i u6 = _mm512_shuffle_i64x2(t5, t7, 0x88), u7 = _mm512_shuffle_i64x2(t5, t7, 0xdd);
    __m512i* w = m + 8 * half;
    w[0] = _mm512_shuffle_i64x2(u0, u4, 0x88);
    w[4] = _mm512_shuffle_i64x2(u0, u4, 0xdd);
    w[2] = _mm512_shuffle_i64x2(u1, u5, 0x88);
    w[6] = _mm512_shuffle_i64x2(u1, u5, 0xdd);
    w[1] = _mm512_shuffle_i64x2(u2, u6, 0x88);
    w[5] = _mm512_shuffle_i64x2(u2, u6, 0xdd);
    w[3] = _mm512_shuffle_i64x2(u3, u7, 0x88);
    w[7] = _mm512_shuffle_i64x2(u3, u7, 0xdd);
  }
}

// A message in a lane: what is left of it and its byte counter.
struct Lane {
  size_t job = 0;
  bool busy = false;
  const uint8_t* next = nullptr;
  size_t left = 0;
  uint64_t counter = 0;
};

LANES_TARGET void HashLanes(ByteSpan key, std::span<const ByteSpan> data, std::span<Id> ids) {
  // The state after the key block is the same for every message: computed once (in all lanes).
  alignas(64) uint8_t block[kBlock] = {};
  std::memcpy(block, key.data(), 32);
  __m512i keyed[8];
  for (int i = 0; i < 8; ++i) keyed[i] = Splat(kIv[i]);
  keyed[0] = _mm512_xor_si512(keyed[0], Splat(kParam0));
  {
    const uint8_t* p[kLanes];
    std::fill(p, p + kLanes, block);
    __m512i m[16];
    LoadBlocks(p, m);
    Compress(keyed, m, Splat(kBlock), _mm512_setzero_si512());
    sodium_memzero(m, sizeof m);
  }

  // Longest first, so that the lanes run dry at about the same time at the end of the batch.
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return data[a].size() > data[b].size(); });
  size_t started = 0;
  Lane lanes[kLanes];
  auto start = [&](Lane& l) {
    l.busy = started < order.size();
    if (!l.busy) return false;
    l.job = order[started++];
    l.next = data[l.job].data();
    l.left = data[l.job].size();
    l.counter = kBlock;
    return true;
  };
  for (Lane& l : lanes) start(l);

  __m512i h[8];
  for (int i = 0; i < 8; ++i) h[i] = keyed[i];
  alignas(64) uint8_t tail[kLanes][kBlock];  // final blocks, zero-padded
  for (;;) {
    const uint8_t* p[kLanes];
    alignas(64) uint64_t counter[kLanes];
    __mmask8 busy = 0, last = 0;
    for (int j = 0; j < kLanes; ++j) {
      Lane& l = lanes[j];
      counter[j] = 0;
      p[j] = kZeroBlock;
      if (!l.busy) continue;
      busy |= 1 << j;
      if (l.left > kBlock) {
        p[j] = l.next;
        l.next += kBlock;
        l.left -= kBlock;
        l.counter += kBlock;
      } else {
        std::memcpy(tail[j], l.next, l.left);
        std::memset(tail[j] + l.left, 0, kBlock - l.left);
        p[j] = tail[j];
        l.counter += l.left;
        l.left = 0;
        last |= 1 << j;
      }
      counter[j] = l.counter;
    }
    if (!busy) break;
    __m512i m[16];
    LoadBlocks(p, m);
    Compress(h, m, _mm512_load_si512(counter), _mm512_maskz_set1_epi64(last, -1));
    if (!last) continue;
    alignas(64) uint64_t out[4][kLanes];
    for (int i = 0; i < 4; ++i) _mm512_store_si512(out[i], h[i]);
    __mmask8 fresh = 0;
    for (int j = 0; j < kLanes; ++j) {
      if (!(last & (1 << j))) continue;
      uint8_t* id = ids[lanes[j].job].data();
      for (int i = 0; i < 4; ++i) std::memcpy(id + 8 * i, &out[i][j], 8);
      if (start(lanes[j])) fresh |= 1 << j;
    }
    for (int i = 0; i < 8; ++i) h[i] = _mm512_mask_blend_epi64(fresh, h[i], keyed[i]);
  }
  // The key, and the states after its block (as good as the key for making ids), are wiped
  // where this function keeps them in memory.
  sodium_memzero(block, sizeof block);
  sodium_memzero(keyed, sizeof keyed);
  sodium_memzero(h, sizeof h);
}

}  // namespace

bool Blake2bLanesAvailable() {
  static const bool available = __builtin_cpu_supports("avx512f");
  return available;
}

void Blake2bKeyedLanes(ByteSpan key, std::span<const ByteSpan> data, std::span<Id> ids) {
  HashLanes(key, data, ids);
}

}  // namespace repo
