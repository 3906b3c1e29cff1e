// Packs: immutable files in data/ holding many sealed blobs (docs/format.md, "Pack").
//
//   blob_0 | blob_1 | ... | blob_n-1 | sealed header | header_length u32 | "RPAK"
//
// The sealed header lists every blob (46-byte entries, index/blob_location.h) and is encrypted
// with the trailer's 8 bytes as associated data. A pack alone is enough to rebuild its index
// entries. The pack's file name is BLAKE2b-256 of its bytes.
#pragma once

#include <vector>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "crypto/secret.h"
#include "index/blob_location.h"
#include "repo/storage/backend.h"
#include "repo/store/blob_codec.h"

namespace repo {

inline constexpr size_t kPackTrailerSize = 8;
inline constexpr uint8_t kPackHeaderVersion = 1;
// Most blobs a header may list: bounds what a hostile header can make a reader allocate.
inline constexpr uint32_t kMaxPackEntries = 1u << 20;

struct FinishedPack {
  Id id;
  Bytes bytes;
  std::vector<IndexEntry> entries;  // loc.pack == id
};

// Builds one pack in memory. Not thread-safe.
class PackWriter {
 public:
  // `enc_key` must outlive the writer. `expected_size` reserves the buffer up front, so a pack
  // growing to its target size is never reallocated (which would briefly double its memory).
  explicit PackWriter(const SecretBytes& enc_key, size_t expected_size = 0) : enc_key_(enc_key) {
    bytes_.reserve(expected_size);
  }
  // Writes into `buffer`'s memory (its contents are dropped): a finished pack's bytes, given
  // back once written, whose pages are already resident and big enough.
  PackWriter(const SecretBytes& enc_key, Bytes buffer)
      : enc_key_(enc_key), bytes_(std::move(buffer)) {
    bytes_.clear();
  }

  // Appends a sealed blob. REQUIRES: size() + blob.sealed.size() < 4 GiB.
  void Add(BlobType type, const Id& id, const EncodedBlob& blob);
  size_t size() const { return bytes_.size(); }
  size_t count() const { return entries_.size(); }

  // Appends the sealed header and trailer, names the pack, and re-reads its own header (as a
  // reader would) before returning it. The writer is empty afterwards, ready for the next pack.
  Result<FinishedPack> Finish();

 private:
  const SecretBytes& enc_key_;
  Bytes bytes_;
  std::vector<IndexEntry> entries_;
};

// Decodes the header of a pack from its last `tail.size()` bytes (the whole pack or at least the
// sealed header plus trailer). `pack_size` is the full file size. Checks that the entries tile
// the blob area exactly. Corruption naming the pack on any mismatch; UnsupportedVersion for a
// newer header version. If `tail` is too short, returns InvalidArgument whose needed size is
// reported through *needed (when not null).
Result<std::vector<IndexEntry>> DecodePackHeader(const SecretBytes& enc_key, const Id& pack,
                                                 ByteSpan tail, uint64_t pack_size,
                                                 size_t* needed = nullptr);

// Reads and decodes the header of pack `pack` from `backend` (one read in the common case).
Result<std::vector<IndexEntry>> ReadPackHeader(Backend& backend, const SecretBytes& enc_key,
                                               const Id& pack);

}  // namespace repo
