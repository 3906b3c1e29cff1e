// Index files (index/<id>): the authoritative record of which blobs each pack holds
// (docs/format.md, "Index file"). Every writer adds its own immutable index files; nobody edits
// one. A file may replace others (consolidation, repair): it names them, and the entries of
// theirs that are gone, so that every cache applies the change incrementally. The payload,
// sealed as an ObjectKind::kIndex object, is:
//
//   version u8 | reserved[3] | pack_count u32 |
//   pack_count x ( pack id (32) | entry_count u32 | entry_count x 46-byte entry ) |
//   version 2 only: superseded_count u32 | superseded_count x index file id (32) |
//                   removed_count u32 | removed_count x ( blob id (32) | pack id (32) )
#pragma once

#include <vector>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "crypto/secret.h"
#include "index/blob_location.h"

namespace repo {

// Version 1: entries only (what a file that replaces nothing is still written as, so that a
// format 2 binary reads it). Version 2: also what it replaces.
inline constexpr uint8_t kIndexFileVersion = 2;

struct IndexFile {
  std::vector<IndexEntry> entries;
  // Index files this one replaces. Every entry of theirs is in this file, or in a file written
  // before it (that replaces nothing), or in `removed`.
  std::vector<Id> supersedes;
  // Entries of the replaced files whose pack is gone (or no longer holds the blob). The writer
  // of several files puts them, with the entries of those blobs that stay valid elsewhere, in
  // the last file it writes, after the others are durable.
  std::vector<RemovedEntry> removed;
  friend bool operator==(const IndexFile&, const IndexFile&) = default;
};

// Encodes `file` (entries grouped by pack in the order given) into a sealed index file: version
// 1 if it replaces nothing, else version 2.
Bytes EncodeIndexFile(const SecretBytes& enc_key, const IndexFile& file);
// An index file of `entries` that replaces nothing.
Bytes EncodeIndexFile(const SecretBytes& enc_key, const std::vector<IndexEntry>& entries);

// Decodes a sealed index file of either version. Corruption / UnsupportedVersion naming `what`
// on failure.
Result<IndexFile> DecodeIndexFile(const SecretBytes& enc_key, ByteSpan file,
                                  const std::string& what);

}  // namespace repo
