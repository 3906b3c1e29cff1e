// FastCDC content-defined chunking with normalized chunking and two-bytes-per-step rolling
// (Xia et al., USENIX ATC 2016; IEEE TPDS 2020). See docs/format.md, "Chunking".
//
// FastCdc is a pure scanner: it does no I/O and allocates nothing. It keeps only the position in
// the current chunk and the rolling fingerprint, so cut points are identical however the stream is
// split into calls (one byte at a time or all at once). The 256-entry gear table comes from the
// caller; repositories derive it from their secret chunker seed (repo/store/repository.cc) so that
// cut points do not reveal content to someone who knows the algorithm but not the seed.
//
// Cut rule (part of the repository format: changing it loses deduplication against stored data).
// Let L be the length of the open chunk including byte b. The fingerprint starts at 0 with each
// chunk and takes fp = (fp << 1) + gear[b] for every byte at offset >= min_size - 64 in the chunk
// (earlier bytes are skipped unread). A byte leaves a gear fingerprint after 64 shifts, so at every
// candidate L >= min_size fp is the gear hash of exactly the 64 bytes ending at b: cut points
// depend on nothing else, in particular not on how the stream was split into calls. The chunk
// ends after b if L == max_size, or if L >= min_size and fp & mask == 0, where mask is mask_s
// (log2(avg_size) + 2 one-bits) while L < avg_size and mask_l (log2(avg_size) - 2 one-bits) from
// then on ("normalized chunking", level 2). The mask bits are spread over fingerprint bits 36..62
// (fastcdc.cc says why). Next() tests two bytes per step with gear << 1 and mask << 1 (TPDS 2020);
// that is an exact rewriting of the rule above, not a different rule.
//
// Thread-safety: an instance is used by one thread at a time; instances are independent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/bytes.h"
#include "base/status.h"

namespace repo {

using GearTable = std::array<uint64_t, 256>;

struct ChunkerParams {
  uint32_t min_size = 0;
  uint32_t avg_size = 0;  // normalization target; a power of two
  uint32_t max_size = 0;

  // The repository default, chosen by measurement (docs/perf.md, "Chunk size").
  static ChunkerParams Default();
  // OK iff 64 <= min < avg < max <= 64 MiB and avg is a power of two.
  Status Validate() const;
};

class FastCdc {
 public:
  // REQUIRES: params.Validate().ok(). The table is copied.
  FastCdc(const ChunkerParams& params, const GearTable& gear);

  // Scans `data`, the next bytes of the stream. Returns n in [1, data.size()] when the current
  // chunk ends after data[n-1] (the scanner then starts a new chunk, so call again with
  // data.subspan(n)); returns 0 when every byte of `data` belongs to the current, still open
  // chunk. At end of stream the open chunk, if non-empty, is the last chunk.
  size_t Next(ByteSpan data);

  // Forgets the open chunk: the next byte starts a new chunk.
  void Reset();

  // Bytes of the open chunk seen so far.
  size_t pending() const { return pos_; }

 private:
  ChunkerParams params_;
  GearTable gear_;     // gear_[b]
  GearTable gear_ls_;  // gear_[b] << 1, for the two-bytes-per-step loop
  uint64_t mask_s_, mask_l_, mask_s_ls_, mask_l_ls_;
  size_t pos_ = 0;   // bytes of the open chunk seen so far
  uint64_t fp_ = 0;  // rolling fingerprint
};

}  // namespace repo
