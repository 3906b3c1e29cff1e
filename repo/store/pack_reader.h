// PackReader: the one read seam. Every reader of stored blobs (BlobStore::Get, restore, dump, and
// later check, the mount and wal-fetch) goes through it, so blobs are fetched, authenticated,
// decompressed and re-hashed in one place (docs/design.md, "Read path").
//
// The blobs asked for are taken in the order given. Consecutive ones that lie back to back in
// one pack are fetched with one ranged Backend::Read of up to kMaxRead bytes (callers that can,
// sort by pack and offset first), then opened, decompressed and re-hashed up to kDecodeBatch at
// a time, their ids hashed together (crypto/blake2b_lanes.h). A caller sees only plaintext whose
// keyed hash is the id it asked for.
//
// Thread-safety: none; one PackReader per thread (it keeps its buffers between calls). The
// backend and keys are shared and must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"
#include "crypto/master_keys.h"
#include "index/blob_location.h"
#include "repo/storage/backend.h"
#include "repo/store/blob_codec.h"

namespace repo {

// Called with blobs[index]'s verified plaintext, in the order the blobs were given. The visitor
// may keep the bytes (std::move them out); the reader does not look at them again. An error stops
// the read and is returned by Read.
using BlobVisitor = std::function<Status(size_t index, Bytes& plaintext)>;

class PackReader {
 public:
  // Most bytes one Backend::Read fetches for a run of adjacent blobs (a larger single blob is
  // read alone). 16 MiB cost restore ~25 MB of peak RSS and was no faster (docs/perf.md).
  static constexpr uint64_t kMaxRead = 4u << 20;
  // Blobs opened together: their ids are re-hashed as one batch. A batch also ends once its
  // plaintext reaches kDecodeBytes, which bounds the decoded blobs whatever the chunk size.
  static constexpr size_t kDecodeBatch = 32;
  static constexpr uint64_t kDecodeBytes = 4u << 20;

  // The buffers grow to what the reads need and are kept: nothing is reserved up front, as
  // BlobStore::Get makes a reader per blob (a 4 MiB reservation there was a mapping made and
  // unmapped per tree read: +28% on a no-op snapshot of 80,000 files, docs/perf.md).
  PackReader(Backend& backend, const MasterKeys& keys) : backend_(backend), keys_(keys) {}

  // Reads every blob of `blobs` (each located by its entry: pack, offset, length, type, flags,
  // raw length) and calls visit(i, plaintext) for each in order. Stops at the first error: the
  // backend's (naming the pack), Corruption naming a blob that fails authentication,
  // decompression or its id, or visit's.
  Status Read(std::span<const IndexEntry> blobs, const BlobVisitor& visit);

  // Read, with the plaintexts placed side by side in `out` in the order given (no copy, no
  // allocation): for a reader that wants a stretch of a file in one buffer (dump, the mount).
  // InvalidArgument unless out.size() is the sum of the blobs' raw lengths; on error `out`'s
  // contents are unspecified.
  Status ReadInto(std::span<const IndexEntry> blobs, MutableByteSpan out);

 private:
  // Decodes blobs [b, e), all of `type`, whose sealed bytes are in sealed_.
  using BatchVisitor = std::function<Status(BlobType type, size_t b, size_t e)>;
  // Fetches the blobs region by region and calls `decode` for each batch of them.
  Status ForEachBatch(std::span<const IndexEntry> blobs, const BatchVisitor& decode);

  Backend& backend_;
  const MasterKeys& keys_;
  // Reused from read to read, so that steady reading allocates nothing: the region read, the
  // batch being opened, and its plaintexts (unless a visitor takes them).
  Bytes region_;
  std::vector<SealedBlob> sealed_;
  std::vector<Bytes> plain_;
  std::vector<MutableByteSpan> slices_;
};

}  // namespace repo
