#include "repo/store/config.h"

namespace repo {

Status RepositoryConfig::Validate() const {
  RETURN_IF_ERROR(chunker.Validate());
  if (pack_size < (1u << 20) || pack_size > (1u << 30)) {
    return Status::InvalidArgument("pack size " + std::to_string(pack_size) +
                                   " out of range [1 MiB, 1 GiB]");
  }
  if (chunker.max_size * 2u > pack_size) {
    return Status::InvalidArgument("pack size must be at least twice the maximum chunk size");
  }
  if (zstd_level < 0 || zstd_level > 19) {
    return Status::InvalidArgument("zstd level " + std::to_string(zstd_level) +
                                   " out of range [0, 19]");
  }
  return Status::OK();
}

Bytes RepositoryConfig::Encode() const {
  Bytes b;
  ByteWriter w(&b);
  w.U32(version);
  w.Raw(id.span());
  w.U32(chunker.min_size);
  w.U32(chunker.avg_size);
  w.U32(chunker.max_size);
  w.U32(pack_size);
  w.U32(static_cast<uint32_t>(zstd_level));
  w.U64(static_cast<uint64_t>(created_unix));
  return b;
}

Result<RepositoryConfig> RepositoryConfig::Decode(ByteSpan payload) {
  RepositoryConfig c;
  ByteReader r(payload);
  if (!r.U32(&c.version)) return Status::Corruption("config: truncated");
  if (c.version > kFormatVersion) {
    return Status::UnsupportedVersion("repository format version " + std::to_string(c.version) +
                                      " is newer than this repo binary supports (" +
                                      std::to_string(kFormatVersion) + "); upgrade repo");
  }
  ByteSpan id;
  uint32_t level;
  uint64_t created;
  if (!r.Raw(Id::kSize, &id) || !r.U32(&c.chunker.min_size) || !r.U32(&c.chunker.avg_size) ||
      !r.U32(&c.chunker.max_size) || !r.U32(&c.pack_size) || !r.U32(&level) || !r.U64(&created) ||
      !r.done()) {
    return Status::Corruption("config: wrong size");
  }
  c.id = Id::FromSpan(id);
  c.zstd_level = static_cast<int32_t>(level);
  c.created_unix = static_cast<int64_t>(created);
  if (c.version == 0) return Status::Corruption("config: version 0 is invalid");
  Status valid = c.Validate();
  if (!valid.ok()) return Status::Corruption("config: " + valid.message());
  return c;
}

}  // namespace repo
