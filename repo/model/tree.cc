#include "repo/model/tree.h"

namespace repo {
namespace {

// Node record field order is the format: docs/format.md, "Node record". Versions 1 and 2
// differ only in the content field.
void EncodeNode(const Node& n, uint8_t version, ByteWriter* w) {
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
  if (version >= 2) {
    w->U8(n.content.list ? 1 : 0);
    if (n.content.list) w->Raw(n.content.list->span());
  }
  if (version == 1 || !n.content.list) {
    w->U32(static_cast<uint32_t>(n.content.runs.size()));
    for (const ContentRun& r : n.content.runs) {
      w->U8(r.hole ? 1 : 0);
      if (r.hole) {
        w->U64(r.length);
      } else {
        w->Raw(r.blob.span());
        w->U32(static_cast<uint32_t>(r.length));
      }
    }
  }
  w->U32(static_cast<uint32_t>(n.subtree.size()));
  for (const Id& id : n.subtree) w->Raw(id.span());
}

bool ReadId(ByteReader* r, Id* id) {
  ByteSpan b;
  if (!r->Raw(Id::kSize, &b)) return false;
  *id = Id::FromSpan(b);
  return true;
}

bool DecodeNode(ByteReader* r, uint8_t version, Node* n) {
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
  n->content.runs.clear();
  n->content.list.reset();
  uint8_t form = 0;
  if (version >= 2) {
    if (!r->U8(&form) || form > 1) return false;
    if (form == 1) {
      Id root;
      if (n->type != NodeType::kFile || !ReadId(r, &root)) return false;
      n->content.list = root;
    }
  }
  if (form == 0) {
    const uint32_t max_runs = version >= 2 ? kMaxInlineRuns : kMaxTreeItems;
    if (!r->U32(&count) || count > max_runs || count > r->remaining() / 9) return false;
    n->content.runs.resize(count);
    for (ContentRun& run : n->content.runs) {
      uint8_t kind;
      if (!r->U8(&kind) || kind > 1) return false;
      run.hole = kind == 1;
      if (run.hole) {
        if (!r->U64(&run.length)) return false;
      } else {
        uint32_t len;
        if (!ReadId(r, &run.blob) || !r->U32(&len)) return false;
        run.length = len;
      }
    }
  }
  if (!r->U32(&count) || count > r->remaining() / Id::kSize) return false;
  // Format 2 refers to a listing by its one root blob.
  if (version >= 2 && count != (n->type == NodeType::kDir ? 1u : 0u)) return false;
  n->subtree.resize(count);
  for (Id& id : n->subtree) {
    if (!ReadId(r, &id)) return false;
  }
  return true;
}

}  // namespace

bool ValidNodeName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

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

Status EncodeNodeRecord(const Node& node, Bytes* out) {
  const auto invalid = [&](const std::string& why) {
    return Status::InvalidArgument("cannot store '" + node.name + "': " + why);
  };
  if (!ValidNodeName(node.name)) return invalid("not a valid name in a listing");
  if (node.content.runs.size() > kMaxInlineRuns) return invalid("too many inline content runs");
  if (node.content.list && !node.content.runs.empty())
    return invalid("content both inline and listed");
  for (const ContentRun& r : node.content.runs) {
    if (!r.hole && r.length > UINT32_MAX) return invalid("a data run longer than 4 GiB - 1");
  }
  if (node.type == NodeType::kDir && node.subtree.size() != 1) {
    return invalid("a directory refers to its listing by exactly one tree blob");
  }
  out->clear();
  ByteWriter w(out);
  EncodeNode(node, kTreeVersion, &w);
  if (out->size() > kMaxNodeRecord) {
    return invalid("its metadata (" + std::to_string(out->size()) +
                   " bytes, mostly extended attributes) is larger than the format's " +
                   std::to_string(kMaxNodeRecord >> 20) + " MiB per entry");
  }
  return Status::OK();
}

bool DecodeNodeRecord(ByteSpan record, uint8_t version, Node* node) {
  ByteReader r(record);
  // Records are length-prefixed so that a later version may append fields; 1 and 2 have none.
  return DecodeNode(&r, version, node) && r.done() && ValidNodeName(node->name);
}

Result<Bytes> EncodeTreeV1(const std::vector<Node>& nodes) {
  Bytes out;
  ByteWriter w(&out);
  w.U8(kTreeVersionV1);
  w.U32(static_cast<uint32_t>(nodes.size()));
  Bytes record;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!ValidNodeName(nodes[i].name) || (i > 0 && !(nodes[i - 1].name < nodes[i].name))) {
      return Status::InvalidArgument("tree: names must be valid, sorted and unique ('" +
                                     nodes[i].name + "')");
    }
    record.clear();
    ByteWriter rw(&record);
    EncodeNode(nodes[i], kTreeVersionV1, &rw);
    w.U32(static_cast<uint32_t>(record.size()));
    w.Raw(record);
  }
  return out;
}

Result<std::vector<Node>> DecodeTreeV1(ByteSpan bytes, const std::string& what) {
  ByteReader r(bytes);
  uint8_t version;
  uint32_t count;
  if (!r.U8(&version)) return Status::Corruption(what + ": empty tree");
  if (version != kTreeVersionV1 || !r.U32(&count) || count > kMaxTreeItems ||
      count > r.remaining() / 4) {
    return Status::Corruption(what + ": bad tree header");
  }
  std::vector<Node> nodes(count);
  for (size_t i = 0; i < nodes.size(); ++i) {
    uint32_t len;
    ByteSpan record;
    if (!r.U32(&len) || !r.Raw(len, &record)) return Status::Corruption(what + ": truncated tree");
    if (!DecodeNodeRecord(record, kTreeVersionV1, &nodes[i])) {
      return Status::Corruption(what + ": malformed node " + std::to_string(i));
    }
    if (i > 0 && !(nodes[i - 1].name < nodes[i].name)) {
      return Status::Corruption(what + ": bad or unsorted name in node " + std::to_string(i));
    }
  }
  if (!r.done()) return Status::Corruption(what + ": trailing bytes after tree");
  return nodes;
}

}  // namespace repo
