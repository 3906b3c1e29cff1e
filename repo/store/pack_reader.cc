#include "repo/store/pack_reader.h"

#include <string>

namespace repo {

Status PackReader::ForEachBatch(std::span<const IndexEntry> blobs, const BatchVisitor& decode) {
  size_t i = 0;
  while (i < blobs.size()) {
    // One read covers a run of blobs that lie back to back in one pack.
    const BlobLocation& first = blobs[i].loc;
    const uint64_t start = first.offset;
    uint64_t end = start + first.length;
    size_t j = i + 1;
    while (j < blobs.size() && blobs[j].loc.pack == first.pack && blobs[j].loc.offset == end &&
           end + blobs[j].loc.length - start <= kMaxRead) {
      end += blobs[j].loc.length;
      ++j;
    }
    RETURN_IF_ERROR(
        backend_.ReadInto({FileType::kPack, first.pack.Hex()}, start, end - start, &region_));
    const ByteSpan region(region_);
    // Opened a batch at a time (ids re-hashed together); a batch holds blobs of one type.
    for (size_t b = i; b < j;) {
      const BlobType type = blobs[b].loc.type;
      sealed_.clear();
      uint64_t raw = 0;
      size_t e = b;
      for (; e < j && sealed_.size() < kDecodeBatch && (e == b || raw < kDecodeBytes) &&
             blobs[e].loc.type == type;
           ++e) {
        const BlobLocation& loc = blobs[e].loc;
        raw += loc.raw_length;
        sealed_.push_back(SealedBlob{blobs[e].blob, loc.flags, loc.raw_length,
                                     region.subspan(loc.offset - start, loc.length)});
      }
      RETURN_IF_ERROR(decode(type, b, e));
      b = e;
    }
    i = j;
  }
  return Status::OK();
}

Status PackReader::Read(std::span<const IndexEntry> blobs, const BlobVisitor& visit) {
  return ForEachBatch(blobs, [&](BlobType type, size_t b, size_t e) -> Status {
    RETURN_IF_ERROR(DecodeBlobs(keys_, type, sealed_, &plain_));
    for (size_t k = b; k < e; ++k) RETURN_IF_ERROR(visit(k, plain_[k - b]));
    return Status::OK();
  });
}

Status PackReader::ReadInto(std::span<const IndexEntry> blobs, MutableByteSpan out) {
  uint64_t total = 0;
  for (const IndexEntry& e : blobs) total += e.loc.raw_length;
  if (total != out.size()) {
    return Status::InvalidArgument("PackReader::ReadInto: " + std::to_string(out.size()) +
                                   " bytes given for " + std::to_string(total));
  }
  size_t at = 0;  // where blob b's plaintext goes
  return ForEachBatch(blobs, [&](BlobType type, size_t b, size_t e) -> Status {
    slices_.clear();
    for (size_t k = b; k < e; ++k) {
      slices_.push_back(out.subspan(at, blobs[k].loc.raw_length));
      at += blobs[k].loc.raw_length;
    }
    return DecodeBlobsInto(keys_, type, sealed_, slices_);
  });
}

}  // namespace repo
