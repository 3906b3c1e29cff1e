#include "repo/model/tree.h"

namespace repo {
namespace {

// Node record field order is the format: docs/format.md, "Tree".
void EncodeNode(const Node& n, ByteWriter* w) {
  w->U8(static_cast<uint8_t>(n.type));
  w->String(n.name);
  w->U32(n.mode);
  w->U32(n.uid);
  w->U32(n.gid);
  w->String(n.user);
  w->String(n.group);
  w->U64(static_cast<uint64_t>(n.mtime_ns));
  w->U64(static_cast<uint64_t>(n.ctime_ns));
  w->U64(n.size);
  w->U64(n.inode);
  w->U64(n.device);
  w->U32(n.nlink);
  w->U64(n.rdev);
  w->String(n.link_target);
  w->U32(static_cast<uint32_t>(n.xattrs.size()));
  for (const auto& [k, v] : n.xattrs) {
    w->String(k);
    w->String(v);
  }
  w->U32(static_cast<uint32_t>(n.content.size()));
  for (const ContentRun& r : n.content) {
    w->U8(r.hole ? 1 : 0);
    if (r.hole) {
      w->U64(r.length);
    } else {
      w->Raw(r.blob.span());
      w->U32(static_cast<uint32_t>(r.length));
    }
  }
  w->U32(static_cast<uint32_t>(n.subtree.size()));
  for (const Id& id : n.subtree) w->Raw(id.span());
}

bool DecodeNode(ByteReader* r, Node* n) {
  uint8_t type;
  uint64_t mtime, ctime;
  uint32_t count;
  if (!r->U8(&type) || type < 1 || type > 7) return false;
  n->type = static_cast<NodeType>(type);
  if (!r->String(&n->name) || !r->U32(&n->mode) || !r->U32(&n->uid) || !r->U32(&n->gid) ||
      !r->String(&n->user) || !r->String(&n->group) || !r->U64(&mtime) || !r->U64(&ctime) ||
      !r->U64(&n->size) || !r->U64(&n->inode) || !r->U64(&n->device) || !r->U32(&n->nlink) ||
      !r->U64(&n->rdev) || !r->String(&n->link_target) || !r->U32(&count)) {
    return false;
  }
  n->mtime_ns = static_cast<int64_t>(mtime);
  n->ctime_ns = static_cast<int64_t>(ctime);
  // Each xattr takes at least 8 bytes, each run at least 9, each subtree id 32: a count larger
  // than what remains is malformed (and must not drive an allocation).
  if (count > kMaxTreeItems || count > r->remaining() / 8) return false;
  n->xattrs.resize(count);
  for (auto& [k, v] : n->xattrs) {
    if (!r->String(&k) || !r->String(&v)) return false;
  }
  for (size_t i = 1; i < n->xattrs.size(); ++i) {
    if (!(n->xattrs[i - 1].first < n->xattrs[i].first)) return false;
  }
  if (!r->U32(&count) || count > kMaxTreeItems || count > r->remaining() / 9) return false;
  n->content.resize(count);
  for (ContentRun& run : n->content) {
    uint8_t kind;
    if (!r->U8(&kind) || kind > 1) return false;
    run.hole = kind == 1;
    if (run.hole) {
      if (!r->U64(&run.length)) return false;
    } else {
      ByteSpan id;
      uint32_t len;
      if (!r->Raw(Id::kSize, &id) || !r->U32(&len)) return false;
      run.blob = Id::FromSpan(id);
      run.length = len;
    }
  }
  if (!r->U32(&count) || count > r->remaining() / Id::kSize) return false;
  n->subtree.resize(count);
  for (Id& id : n->subtree) {
    ByteSpan b;
    if (!r->Raw(Id::kSize, &b)) return false;
    id = Id::FromSpan(b);
  }
  return true;
}

bool ValidName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

std::string_view NodeTypeName(NodeType t) {
  switch (t) {
    case NodeType::kFile:
      return "file";
    case NodeType::kDir:
      return "dir";
    case NodeType::kSymlink:
      return "symlink";
    case NodeType::kFifo:
      return "fifo";
    case NodeType::kCharDevice:
      return "chardev";
    case NodeType::kBlockDevice:
      return "blockdev";
    case NodeType::kSocket:
      return "socket";
  }
  return "unknown";
}

Result<Bytes> EncodeTree(const std::vector<Node>& nodes) {
  Bytes out;
  ByteWriter w(&out);
  w.U8(kTreeVersion);
  w.U32(static_cast<uint32_t>(nodes.size()));
  Bytes record;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!ValidName(nodes[i].name) || (i > 0 && !(nodes[i - 1].name < nodes[i].name))) {
      return Status::InvalidArgument("tree: names must be valid, sorted and unique ('" +
                                     nodes[i].name + "')");
    }
    record.clear();
    ByteWriter rw(&record);
    EncodeNode(nodes[i], &rw);
    w.U32(static_cast<uint32_t>(record.size()));
    w.Raw(record);
  }
  return out;
}

Result<std::vector<Node>> DecodeTree(ByteSpan bytes, const std::string& what) {
  ByteReader r(bytes);
  uint8_t version;
  uint32_t count;
  if (!r.U8(&version)) return Status::Corruption(what + ": empty tree");
  if (version > kTreeVersion) {
    return Status::UnsupportedVersion(what + ": tree version " + std::to_string(version) +
                                      " is newer than this repo binary supports; upgrade repo");
  }
  if (version == 0 || !r.U32(&count) || count > kMaxTreeItems || count > r.remaining() / 4) {
    return Status::Corruption(what + ": bad tree header");
  }
  std::vector<Node> nodes(count);
  for (size_t i = 0; i < nodes.size(); ++i) {
    uint32_t len;
    ByteSpan record;
    if (!r.U32(&len) || !r.Raw(len, &record)) return Status::Corruption(what + ": truncated tree");
    ByteReader rr(record);
    // Records are length-prefixed so that a later version may append fields; version 1 has none.
    if (!DecodeNode(&rr, &nodes[i]) || !rr.done()) {
      return Status::Corruption(what + ": malformed node " + std::to_string(i));
    }
    if (!ValidName(nodes[i].name) || (i > 0 && !(nodes[i - 1].name < nodes[i].name))) {
      return Status::Corruption(what + ": bad or unsorted name in node " + std::to_string(i));
    }
  }
  if (!r.done()) return Status::Corruption(what + ": trailing bytes after tree");
  return nodes;
}

}  // namespace repo
