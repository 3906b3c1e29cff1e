// Index files (index/<id>): the authoritative record of which blobs each pack holds
// (docs/format.md, "Index file"). Every writer adds its own immutable index files; nobody edits
// one. The payload, sealed as an ObjectKind::kIndex object, is:
//
//   version u8 | reserved[3] | pack_count u32 |
//   pack_count x ( pack id (32) | entry_count u32 | entry_count x 46-byte entry )
#pragma once

#include <vector>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "crypto/secret.h"
#include "index/blob_location.h"

namespace repo {

inline constexpr uint8_t kIndexFileVersion = 1;

// Encodes entries (grouped by pack in the order given) into a sealed index file.
Bytes EncodeIndexFile(const SecretBytes& enc_key, const std::vector<IndexEntry>& entries);

// Decodes a sealed index file. Corruption / UnsupportedVersion naming `what` on failure.
Result<std::vector<IndexEntry>> DecodeIndexFile(const SecretBytes& enc_key, ByteSpan file,
                                                const std::string& what);

}  // namespace repo
