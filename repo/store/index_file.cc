#include "repo/store/index_file.h"

#include "repo/store/object_codec.h"

namespace repo {

Bytes EncodeIndexFile(const SecretBytes& enc_key, const IndexFile& file) {
  const std::vector<IndexEntry>& entries = file.entries;
  // Group consecutive entries of the same pack.
  std::vector<std::pair<size_t, size_t>> runs;  // [begin, end) into entries
  for (size_t i = 0; i < entries.size(); ++i) {
    if (runs.empty() || entries[runs.back().first].loc.pack != entries[i].loc.pack) {
      runs.push_back({i, i});
    }
    runs.back().second = i + 1;
  }
  const bool replaces = !file.supersedes.empty() || !file.removed.empty();
  Bytes payload;
  ByteWriter w(&payload);
  w.U8(replaces ? 2 : 1);
  w.U8(0);
  w.U16(0);
  w.U32(static_cast<uint32_t>(runs.size()));
  for (auto [begin, end] : runs) {
    w.Raw(entries[begin].loc.pack.span());
    w.U32(static_cast<uint32_t>(end - begin));
    for (size_t i = begin; i < end; ++i) EncodeEntry(entries[i], &w);
  }
  if (replaces) {
    w.U32(static_cast<uint32_t>(file.supersedes.size()));
    for (const Id& id : file.supersedes) w.Raw(id.span());
    w.U32(static_cast<uint32_t>(file.removed.size()));
    for (const RemovedEntry& r : file.removed) {
      w.Raw(r.blob.span());
      w.Raw(r.pack.span());
    }
  }
  return SealObject(enc_key, ObjectKind::kIndex, payload);
}

Bytes EncodeIndexFile(const SecretBytes& enc_key, const std::vector<IndexEntry>& entries) {
  return EncodeIndexFile(enc_key, IndexFile{entries, {}, {}});
}

Result<IndexFile> DecodeIndexFile(const SecretBytes& enc_key, ByteSpan file,
                                  const std::string& what) {
  ASSIGN_OR_RETURN(Bytes payload, OpenObject(enc_key, ObjectKind::kIndex, file, what));
  ByteReader r(payload);
  uint8_t version, r8;
  uint16_t r16;
  uint32_t packs;
  if (!r.U8(&version) || !r.U8(&r8) || !r.U16(&r16) || !r.U32(&packs)) {
    return Status::Corruption(what + ": truncated");
  }
  if (version > kIndexFileVersion) {
    return Status::UnsupportedVersion(what + ": index version " + std::to_string(version) +
                                      " is newer than this repo binary supports; upgrade repo");
  }
  if (version == 0 || r8 != 0 || r16 != 0) return Status::Corruption(what + ": bad header");
  IndexFile out;
  // At most this many entries fit in what is left: the vector is sized once (growing it was 6%
  // of a `repo check`), and a hostile count cannot make it reserve more than the file holds.
  out.entries.reserve(r.remaining() / (kEntryWireSize));
  for (uint32_t p = 0; p < packs; ++p) {
    ByteSpan pack_id;
    uint32_t count;
    if (!r.Raw(Id::kSize, &pack_id) || !r.U32(&count) ||
        r.remaining() < uint64_t{count} * kEntryWireSize) {
      return Status::Corruption(what + ": truncated pack list");
    }
    const Id pack = Id::FromSpan(pack_id);
    for (uint32_t i = 0; i < count; ++i) {
      IndexEntry e;
      if (!DecodeEntry(&r, pack, &e)) return Status::Corruption(what + ": malformed entry");
      out.entries.push_back(e);
    }
  }
  if (version >= 2) {
    uint32_t superseded, removed;
    if (!r.U32(&superseded) || r.remaining() < uint64_t{superseded} * Id::kSize) {
      return Status::Corruption(what + ": truncated list of replaced index files");
    }
    for (uint32_t i = 0; i < superseded; ++i) {
      ByteSpan id;
      r.Raw(Id::kSize, &id);
      out.supersedes.push_back(Id::FromSpan(id));
    }
    if (!r.U32(&removed) || r.remaining() < uint64_t{removed} * 2 * Id::kSize) {
      return Status::Corruption(what + ": truncated list of removed entries");
    }
    for (uint32_t i = 0; i < removed; ++i) {
      ByteSpan blob, pack;
      r.Raw(Id::kSize, &blob);
      r.Raw(Id::kSize, &pack);
      out.removed.push_back(RemovedEntry{Id::FromSpan(blob), Id::FromSpan(pack)});
    }
    if (out.supersedes.empty() && out.removed.empty()) {
      return Status::Corruption(what + ": version 2 index file that replaces nothing");
    }
  }
  if (!r.done()) return Status::Corruption(what + ": trailing bytes");
  return out;
}

}  // namespace repo
