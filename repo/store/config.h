// The repository config (file "config", an ObjectKind::kConfig object; docs/format.md, "Config").
// Written once by `repo init` and never changed.
#pragma once

#include <cstdint>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "chunker/fastcdc.h"

namespace repo {

struct RepositoryConfig {
  // Format version of the repository as a whole; a newer one is refused (UnsupportedVersion).
  // 1: tree version 1 (a listing's pieces, content runs inline); 2: tree version 2 (B-trees of
  // tree blobs, content lists); 3: index files of version 2 (replacing others). This binary reads
  // all three and writes what it writes into any: docs/format.md, "Versions".
  static constexpr uint32_t kFormatVersion = 4;
  static constexpr uint32_t kDefaultPackSize = 16 << 20;  // docs/perf.md, "Pack size"
  static constexpr int32_t kDefaultZstdLevel = 1;         // docs/perf.md, "Compression level"

  uint32_t version = kFormatVersion;
  Id id;  // random; names the local cache
  ChunkerParams chunker;
  uint32_t pack_size = kDefaultPackSize;   // target; a pack is closed once it reaches this
  int32_t zstd_level = kDefaultZstdLevel;  // 0 = store uncompressed
  int64_t created_unix = 0;

  // OK iff every field is in range (chunker valid, 1 MiB <= pack_size <= 1 GiB,
  // 0 <= zstd_level <= 19).
  Status Validate() const;
  // Payload: version u32 | id (32) | min u32 | avg u32 | max u32 | pack_size u32 |
  // zstd_level i32 | created i64.
  Bytes Encode() const;
  static Result<RepositoryConfig> Decode(ByteSpan payload);
};

}  // namespace repo
