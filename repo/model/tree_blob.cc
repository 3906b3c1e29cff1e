#include "repo/model/tree_blob.h"

#include <cstring>

namespace repo {
namespace {

// Header: version u8 | kind u8 | level u8 | entry count u32.
constexpr size_t kHeaderSize = 7;

// Where blobs end (docs/format.md, "Tree blobs"). Changing these changes which blobs a writer
// produces (so deduplication against older snapshots), never what a reader accepts.
constexpr uint32_t kLeafNodesMin = 32, kLeafNodesMax = 4096, kLeafNodesMask = 127;
constexpr size_t kLeafBytesMax = 1 << 20;
constexpr uint32_t kLeafRunsMin = 64, kLeafRunsMax = 1024;  // and where a data run's id[0] == 0
constexpr uint32_t kInnerMin = 16, kInnerMax = 512, kInnerMask = 63;

// FNV-1a, 32 bits: where a listing leaf may end depends on names only, so a changed entry
// (new mtime, new content) moves no boundary.
uint32_t Fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

void AppendRecordEntry(ByteSpan record, Bytes* out) {
  ByteWriter w(out);
  w.U32(static_cast<uint32_t>(record.size()));
  w.Raw(record);
}

void AppendRunEntry(const ContentRun& run, uint64_t end, Bytes* out) {
  ByteWriter w(out);
  w.U8(run.hole ? 1 : 0);
  w.U64(end);
  if (!run.hole) w.Raw(run.blob.span());
}

void AppendChildEntry(TreeBlobKind kind, const Id& child, uint64_t end,
                      const std::string& first_name, Bytes* out) {
  ByteWriter w(out);
  if (kind == TreeBlobKind::kContent) {
    w.U64(end);
    w.Raw(child.span());
  } else {
    w.Raw(child.span());
    w.String(first_name);
  }
}

void PatchHeader(TreeBlobKind kind, uint8_t level, uint32_t count, Bytes* blob) {
  (*blob)[0] = kTreeVersion;
  (*blob)[1] = static_cast<uint8_t>(kind);
  (*blob)[2] = level;
  for (int i = 0; i < 4; ++i) (*blob)[3 + i] = static_cast<uint8_t>(count >> (8 * i));
}

bool ReadId(ByteReader* r, Id* id) {
  ByteSpan b;
  if (!r->Raw(Id::kSize, &b)) return false;
  *id = Id::FromSpan(b);
  return true;
}

// The entries of a blob whose header has been read; false if malformed.
bool DecodeEntries(ByteReader* r, uint32_t count, TreeBlob* out) {
  if (out->level == 0 && out->kind == TreeBlobKind::kListing) {
    out->nodes.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t len;
      ByteSpan record;
      if (!r->U32(&len) || !r->Raw(len, &record) ||
          !DecodeNodeRecord(record, kTreeVersion, &out->nodes[i]) ||
          (i > 0 && !(out->nodes[i - 1].name < out->nodes[i].name))) {
        return false;
      }
    }
  } else if (out->level == 0) {
    out->runs.resize(count);
    uint64_t end = 0;
    for (ContentRun& run : out->runs) {
      uint8_t kind;
      uint64_t next;
      if (!r->U8(&kind) || kind > 1 || !r->U64(&next) || next <= end) return false;
      run.hole = kind == 1;
      run.length = next - end;
      end = next;
      if (!run.hole && (run.length > UINT32_MAX || !ReadId(r, &run.blob))) return false;
    }
  } else {
    if (count == 0) return false;
    out->children.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      TreeChild& c = out->children[i];
      if (out->kind == TreeBlobKind::kContent) {
        if (!r->U64(&c.end) || !ReadId(r, &c.blob)) return false;
        if (i > 0 && c.end <= out->children[i - 1].end) return false;
        if (c.end == 0) return false;
      } else {
        if (!ReadId(r, &c.blob) || !r->String(&c.first_name) || !ValidNodeName(c.first_name)) {
          return false;
        }
        if (i > 0 && !(out->children[i - 1].first_name < c.first_name)) return false;
      }
    }
  }
  return r->done();
}

// Smallest encoded entry of each shape: bounds a count before it drives an allocation.
size_t MinEntrySize(TreeBlobKind kind, uint8_t level) {
  if (level > 0) return kind == TreeBlobKind::kContent ? 8 + Id::kSize : Id::kSize + 4;
  return kind == TreeBlobKind::kContent ? 9 : 4;
}

}  // namespace

uint64_t TreeBlob::extent() const {
  if (level > 0) return children.empty() ? 0 : children.back().end;
  uint64_t sum = 0;
  for (const ContentRun& r : runs) sum += r.length;
  return sum;
}

Result<Bytes> EncodeTreeBlob(const TreeBlob& blob) {
  const bool leaf = blob.level == 0;
  if (blob.level >= kMaxTreeLevels || (leaf && !blob.children.empty()) ||
      (!leaf && (blob.children.empty() || !blob.nodes.empty() || !blob.runs.empty())) ||
      (blob.kind == TreeBlobKind::kListing ? !blob.runs.empty() : !blob.nodes.empty())) {
    return Status::InvalidArgument("tree blob: entries do not match its kind and level");
  }
  Bytes out(kHeaderSize);
  Bytes record;
  uint32_t count = 0;
  uint64_t end = 0;
  for (const Node& n : blob.nodes) {
    if (count > 0 && !(blob.nodes[count - 1].name < n.name)) {
      return Status::InvalidArgument("tree blob: names must increase ('" + n.name + "')");
    }
    RETURN_IF_ERROR(EncodeNodeRecord(n, &record));
    AppendRecordEntry(record, &out);
    ++count;
  }
  for (const ContentRun& r : blob.runs) {
    if (r.length == 0 || (!r.hole && r.length > UINT32_MAX) || end + r.length < end) {
      return Status::InvalidArgument("tree blob: a run of a length the format cannot hold");
    }
    end += r.length;
    AppendRunEntry(r, end, &out);
    ++count;
  }
  for (const TreeChild& c : blob.children) {
    AppendChildEntry(blob.kind, c.blob, c.end, c.first_name, &out);
    ++count;
  }
  PatchHeader(blob.kind, blob.level, count, &out);
  // What the decoder would refuse (unsorted children, bad names) is refused here too.
  RETURN_IF_ERROR(DecodeTreeBlob(out, blob.kind, "tree blob").status().WithContext("encoding"));
  return out;
}

Result<TreeBlob> DecodeTreeBlob(ByteSpan bytes, TreeBlobKind kind, const std::string& what) {
  ByteReader r(bytes);
  uint8_t version, kind_byte;
  TreeBlob out;
  uint32_t count;
  if (!r.U8(&version)) return Status::Corruption(what + ": empty tree blob");
  if (version > kTreeVersion) {
    return Status::UnsupportedVersion(what + ": tree version " + std::to_string(version) +
                                      " is newer than this repo binary supports; upgrade repo");
  }
  if (version != kTreeVersion || !r.U8(&kind_byte) || kind_byte != static_cast<uint8_t>(kind) ||
      !r.U8(&out.level) || out.level >= kMaxTreeLevels || !r.U32(&count) || count > kMaxTreeItems ||
      count > r.remaining() / MinEntrySize(kind, out.level)) {
    return Status::Corruption(what + ": bad tree blob header");
  }
  out.kind = kind;
  if (!DecodeEntries(&r, count, &out)) return Status::Corruption(what + ": malformed tree blob");
  return out;
}

TreeBlobWriter::TreeBlobWriter(BlobStore& store, TreeBlobKind kind) : store_(store), kind_(kind) {
  At(0);
}

TreeBlobWriter::Level& TreeBlobWriter::At(size_t level) {
  while (levels_.size() <= level) {
    levels_.emplace_back();
    levels_.back().body.resize(kHeaderSize);
  }
  return levels_[level];
}

Status TreeBlobWriter::AddNode(const Node& node) {
  if (any_ && !(last_name_ < node.name)) {
    return Status::InvalidArgument("listing: names must increase ('" + last_name_ + "', then '" +
                                   node.name + "')");
  }
  RETURN_IF_ERROR(EncodeNodeRecord(node, &record_));
  any_ = true;
  last_name_ = node.name;
  Level& l = levels_[0];
  if (l.count == 0) l.first_name = node.name;
  AppendRecordEntry(record_, &l.body);
  ++l.count;
  if (l.count >= kLeafNodesMax || l.body.size() >= kLeafBytesMax ||
      (l.count >= kLeafNodesMin && (Fnv1a32(node.name) & kLeafNodesMask) == 0)) {
    return Flush(0);
  }
  return Status::OK();
}

Status TreeBlobWriter::AddRun(const ContentRun& run) {
  Level& l = levels_[0];
  if (run.length == 0 || (!run.hole && run.length > UINT32_MAX)) {
    return Status::InvalidArgument("content list: a run of " + std::to_string(run.length) +
                                   " bytes (the format holds 1 byte to 4 GiB - 1 per chunk)");
  }
  if (l.extent + run.length < l.extent) {
    return Status::InvalidArgument("content list: the file is larger than 2^64 bytes");
  }
  any_ = true;
  l.extent += run.length;
  AppendRunEntry(run, l.extent, &l.body);
  ++l.count;
  if (l.count >= kLeafRunsMax ||
      (l.count >= kLeafRunsMin && !run.hole && run.blob.data()[0] == 0)) {
    return Flush(0);
  }
  return Status::OK();
}

Result<Id> TreeBlobWriter::Store(Level& l, size_t level) {
  PatchHeader(kind_, static_cast<uint8_t>(level), l.count, &l.body);
  ASSIGN_OR_RETURN(PutResult put, store_.Put(BlobType::kTree, l.body));
  blobs_added_ += put.stored ? 1 : 0;
  bytes_added_ += put.stored_bytes;
  return put.id;
}

Status TreeBlobWriter::Flush(size_t level) {
  ASSIGN_OR_RETURN(Id id, Store(levels_[level], level));
  const uint64_t extent = levels_[level].extent;
  const std::string first_name = std::move(levels_[level].first_name);
  Level& l = levels_[level];
  l.body.resize(kHeaderSize);
  l.count = 0;
  l.extent = 0;
  l.first_name.clear();
  return AddChild(level + 1, id, extent, first_name);
}

Status TreeBlobWriter::AddChild(size_t level, const Id& child, uint64_t extent,
                                const std::string& first_name) {
  if (level >= static_cast<size_t>(kMaxTreeLevels)) {
    return Status::InvalidArgument(
        std::string(kind_ == TreeBlobKind::kContent ? "file" : "directory") +
        " too large for the format (more than " + std::to_string(kMaxTreeLevels) +
        " levels of tree blobs)");
  }
  Level& l = At(level);
  if (l.extent + extent < l.extent) {
    return Status::InvalidArgument("content list: the file is larger than 2^64 bytes");
  }
  l.extent += extent;
  if (l.count == 0) l.first_name = first_name;
  AppendChildEntry(kind_, child, l.extent, first_name, &l.body);
  ++l.count;
  l.last_child = child;
  if (l.count >= kInnerMax || (l.count >= kInnerMin && (child.data()[0] & kInnerMask) == 0)) {
    return Flush(level);
  }
  return Status::OK();
}

Result<Id> TreeBlobWriter::Finish() {
  if (kind_ == TreeBlobKind::kContent && !any_) {
    return Status::InvalidArgument("content list: no runs");
  }
  for (size_t level = 0;; ++level) {
    if (level + 1 == levels_.size()) {
      // The top level: a single child is the root itself.
      if (level > 0 && levels_[level].count == 1) return levels_[level].last_child;
      return Store(levels_[level], level);
    }
    if (levels_[level].count > 0) RETURN_IF_ERROR(Flush(level));
  }
}

}  // namespace repo
