#include "repo/model/tree_io.h"

#include <algorithm>

namespace repo {

Result<StoredTree> StoreTree(BlobStore& store, const ChunkerParams& params, const GearTable& gear,
                             const std::vector<Node>& nodes) {
  ASSIGN_OR_RETURN(Bytes bytes, EncodeTree(nodes));
  StoredTree out;
  auto put = [&](ByteSpan piece) -> Status {
    ASSIGN_OR_RETURN(PutResult r, store.Put(BlobType::kTree, piece));
    out.blobs.push_back(r.id);
    out.blobs_added += r.stored ? 1 : 0;
    out.bytes_added += r.stored_bytes;
    return Status::OK();
  };
  if (bytes.size() <= kMaxSingleTreeBlob) {
    RETURN_IF_ERROR(put(bytes));
    return out;
  }
  FastCdc chunker(params, gear);
  ByteSpan rest(bytes);
  while (!rest.empty()) {
    size_t n = chunker.Next(rest);
    if (n == 0) n = rest.size();
    RETURN_IF_ERROR(put(rest.first(n)));
    rest = rest.subspan(n);
  }
  return out;
}

Result<std::vector<Node>> LoadTree(BlobStore& store, const std::vector<Id>& blobs,
                                   const std::string& what) {
  if (blobs.empty()) return Status::Corruption(what + ": directory has no tree blobs");
  if (blobs.size() == 1) {
    auto b = store.Get(BlobType::kTree, blobs[0]);
    if (!b.ok()) return b.status().WithContext(what);
    return DecodeTree(*b, what);
  }
  Bytes all;
  for (const Id& id : blobs) {
    auto b = store.Get(BlobType::kTree, id);
    if (!b.ok()) return b.status().WithContext(what);
    all.insert(all.end(), b->begin(), b->end());
  }
  return DecodeTree(all, what);
}

namespace {

Status WalkDir(BlobStore& store, const std::vector<Id>& tree, const std::string& dir_path,
               const TreeVisitor& visit) {
  ASSIGN_OR_RETURN(std::vector<Node> nodes,
                   LoadTree(store, tree, "tree of " + (dir_path.empty() ? "/" : dir_path)));
  for (const Node& n : nodes) {
    const std::string path = dir_path + "/" + n.name;
    ASSIGN_OR_RETURN(bool descend, visit(path, n));
    if (descend && n.type == NodeType::kDir)
      RETURN_IF_ERROR(WalkDir(store, n.subtree, path, visit));
  }
  return Status::OK();
}

}  // namespace

Status WalkTree(BlobStore& store, const std::vector<Id>& root, const TreeVisitor& visit) {
  return WalkDir(store, root, "", visit);
}

Result<Node> FindNode(BlobStore& store, const std::vector<Id>& root, const std::string& path) {
  Node current;
  current.type = NodeType::kDir;
  current.name = "/";
  current.mode = 0755;
  current.subtree = root;
  std::string walked;
  size_t pos = 0;
  while (pos < path.size()) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    if (pos >= path.size()) break;
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    const std::string name = path.substr(pos, end - pos);
    pos = end;
    if (current.type != NodeType::kDir) {
      return Status::NotFound("'" + path + "' is not in the snapshot (" + walked +
                              " is not a directory)");
    }
    ASSIGN_OR_RETURN(
        std::vector<Node> nodes,
        LoadTree(store, current.subtree, "tree of " + (walked.empty() ? "/" : walked)));
    auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                               [](const Node& n, const std::string& v) { return n.name < v; });
    if (it == nodes.end() || it->name != name) {
      return Status::NotFound("'" + path + "' is not in the snapshot");
    }
    walked += "/" + name;
    current = std::move(*it);
  }
  return current;
}

}  // namespace repo
