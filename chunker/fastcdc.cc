#include "chunker/fastcdc.h"

#include <algorithm>
#include <bit>
#include <string>

namespace repo {
namespace {

constexpr uint32_t kMinMinSize = 64;
constexpr uint32_t kMaxMaxSize = 64u << 20;

// Gear hashing shifts the fingerprint left once per byte, so bit j depends only on the last j+1
// bytes. Like the paper we spread the mask bits to widen the window the cut test sees, but over
// the high bits [36, 62] (27 positions: enough for avg_size 32 MiB): on low-entropy data (a
// pg_dump has runs of 84 spaces per row) a low mask bit is constant wherever its short window
// holds only the run, and whether that constant is 0 or 1 depends on the gear table. With bits
// from 16 up, the mean chunk size on pgbench dumps varied from 1.5x to 1.9x avg_size across
// seeds; with [36, 62] it stays within 1.44-1.52x. Bit 63 stays clear so that a mask shifted left
// by one (for the two-bytes-per-step loop) loses no bit.
constexpr int kMaskLowBit = 36;
constexpr int kMaskHighBit = 62;

// A mask with `ones` one-bits spread evenly over [kMaskLowBit, kMaskHighBit].
uint64_t SpreadMask(int ones) {
  constexpr int kSpan = kMaskHighBit - kMaskLowBit + 1;
  uint64_t mask = 0;
  for (int k = 0; k < ones; ++k) mask |= uint64_t{1} << (kMaskHighBit - k * kSpan / ones);
  return mask;
}

// Hashes up to `n` bytes from `*p` while testing `mask` after each one, two bytes per step (TPDS
// 2020): with gear_ls[b] == gear[b] << 1 and mask_ls == mask << 1, `(fp << 2) + gear_ls[b0]` is the
// one-byte fingerprint after b0 shifted left by one, so testing it against mask_ls is the one-byte
// test, and adding gear[b1] yields exactly the one-byte fingerprint after b1. Cut points therefore
// do not depend on where a pair starts. Returns true and leaves *p just past the cut byte if a cut
// point is found; otherwise advances *p by n.
inline bool ScanForCut(const uint8_t** p, size_t n, uint64_t* fp, uint64_t mask, uint64_t mask_ls,
                       const uint64_t* gear, const uint64_t* gear_ls) {
  const uint8_t* q = *p;
  const uint8_t* const pair_end = q + (n & ~size_t{1});
  uint64_t h = *fp;
  while (q != pair_end) {
    h = (h << 2) + gear_ls[q[0]];
    if ((h & mask_ls) == 0) {
      *p = q + 1;
      return true;
    }
    h += gear[q[1]];
    if ((h & mask) == 0) {
      *p = q + 2;
      return true;
    }
    q += 2;
  }
  if (n & 1) {
    h = (h << 1) + gear[*q++];
    if ((h & mask) == 0) {
      *p = q;
      return true;
    }
  }
  *p = q;
  *fp = h;
  return false;
}

}  // namespace

// 4 KiB / 16 KiB / 64 KiB: the largest average for which a pg_dump with 0.1% of its rows updated
// adds at most half of what borg's 2 MiB default adds, with margin, for every gear seed tried; at
// about 190 bytes of pack and index overhead per chunk (~1% of the data). Measurements and the
// trade-off: docs/perf.md, "Chunk size".
ChunkerParams ChunkerParams::Default() {
  ChunkerParams p;
  p.min_size = 4u << 10;
  p.avg_size = 16u << 10;
  p.max_size = 64u << 10;
  return p;
}

Status ChunkerParams::Validate() const {
  auto bad = [](const char* what, uint32_t value, const std::string& why) {
    return Status::InvalidArgument("chunker " + std::string(what) + " " + std::to_string(value) +
                                   " " + why);
  };
  if (min_size < kMinMinSize) return bad("min_size", min_size, "is below 64");
  if (avg_size <= min_size) {
    return bad("avg_size", avg_size, "is not above min_size " + std::to_string(min_size));
  }
  if (!std::has_single_bit(avg_size)) return bad("avg_size", avg_size, "is not a power of two");
  if (max_size <= avg_size) {
    return bad("max_size", max_size, "is not above avg_size " + std::to_string(avg_size));
  }
  if (max_size > kMaxMaxSize) return bad("max_size", max_size, "is above 64 MiB (67108864)");
  return Status::OK();
}

FastCdc::FastCdc(const ChunkerParams& params, const GearTable& gear)
    : params_(params), gear_(gear) {
  for (size_t b = 0; b < gear_.size(); ++b) gear_ls_[b] = gear_[b] << 1;
  // Normalized chunking, level 2: a harder test (two more bits than log2(avg)) before avg_size and
  // an easier one (two fewer) after it pulls chunk sizes towards avg_size.
  const int bits = std::countr_zero(params_.avg_size);
  mask_s_ = SpreadMask(bits + 2);
  mask_l_ = SpreadMask(bits - 2);
  mask_s_ls_ = mask_s_ << 1;
  mask_l_ls_ = mask_l_ << 1;
}

void FastCdc::Reset() {
  pos_ = 0;
  fp_ = 0;
}

size_t FastCdc::Next(ByteSpan data) {
  // Phases of a chunk by pos (bytes of it seen before the next byte):
  //   [0, min-64)        skipped: no chunk can end here and the bytes cannot reach the
  //                      fingerprint at the first possible cut point;
  //   [min-64, min-1)    hashed, not tested;
  //   [min-1, avg-1)     hashed, tested with mask_s (the chunk would be min..avg-1 bytes);
  //   [avg-1, max-1)     hashed, tested with mask_l (avg..max-1 bytes);
  //   max-1              the chunk ends after this byte whatever it is.
  const uint8_t* p = data.data();
  const uint8_t* const end = p + data.size();
  const size_t min = params_.min_size, avg = params_.avg_size, max = params_.max_size;
  size_t pos = pos_;
  uint64_t fp = fp_;
  auto cut = [&] {
    pos_ = 0;
    fp_ = 0;
    return static_cast<size_t>(p - data.data());
  };

  if (pos < min - 64) {
    const size_t n = std::min<size_t>(min - 64 - pos, end - p);
    p += n;
    pos += n;
  }
  if (pos < min - 1 && p != end) {
    const size_t n = std::min<size_t>(min - 1 - pos, end - p);
    for (const uint8_t* const stop = p + n; p != stop; ++p) fp = (fp << 1) + gear_[*p];
    pos += n;
  }
  if (pos < avg - 1 && p != end) {
    const size_t n = std::min<size_t>(avg - 1 - pos, end - p);
    if (ScanForCut(&p, n, &fp, mask_s_, mask_s_ls_, gear_.data(), gear_ls_.data())) return cut();
    pos += n;
  }
  if (pos < max - 1 && p != end) {
    const size_t n = std::min<size_t>(max - 1 - pos, end - p);
    if (ScanForCut(&p, n, &fp, mask_l_, mask_l_ls_, gear_.data(), gear_ls_.data())) return cut();
    pos += n;
  }
  if (p != end) {  // pos == max - 1: forced cut
    ++p;
    return cut();
  }
  pos_ = pos;
  fp_ = fp;
  return 0;
}

}  // namespace repo
