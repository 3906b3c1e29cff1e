#include "repo/model/tree_io.h"

#include <algorithm>
#include <utility>

namespace repo {
namespace {

// The plaintext of tree blob `id`, errors naming `what`; tells `on_blob` (if set) it was loaded.
Result<Bytes> GetTreeBlob(BlobStore& store, const Id& id, const std::string& what,
                          const std::function<void(const Id&)>& on_blob) {
  auto bytes = store.Get(BlobType::kTree, id);
  // A listing a snapshot refers to that is not in the index, or whose pack is gone, is damage
  // to that snapshot, as one that does not open is.
  if (!bytes.ok() && bytes.status().IsNotFound()) {
    return Status::Corruption(what + ": " + bytes.status().message());
  }
  if (!bytes.ok()) return bytes.status().WithContext(what);
  if (on_blob) on_blob(id);
  return bytes;
}

}  // namespace

ListingReader::ListingReader(BlobStore& store, std::vector<Id> root, std::string what)
    : store_(store), root_(std::move(root)), what_(std::move(what)) {}

Status ListingReader::Start() {
  started_ = true;
  if (root_.empty()) return Status::Corruption(what_ + ": directory has no tree blobs");
  ASSIGN_OR_RETURN(Bytes first, GetTreeBlob(store_, root_[0], what_, on_blob_));
  if (!first.empty() && first[0] == kTreeVersionV1) {
    // Format 1: the listing's pieces, concatenated, encode it whole.
    v1_ = true;
    Bytes all = std::move(first);
    for (size_t i = 1; i < root_.size(); ++i) {
      ASSIGN_OR_RETURN(Bytes b, GetTreeBlob(store_, root_[i], what_, on_blob_));
      all.insert(all.end(), b.begin(), b.end());
    }
    ASSIGN_OR_RETURN(v1_nodes_, DecodeTreeV1(all, what_));
    return Status::OK();
  }
  if (root_.size() != 1) {
    return Status::Corruption(what_ + ": a listing of tree version 2 has one root blob, not " +
                              std::to_string(root_.size()));
  }
  ASSIGN_OR_RETURN(TreeBlob blob, DecodeTreeBlob(first, TreeBlobKind::kListing, what_));
  stack_.push_back(Frame{root_[0], std::move(blob), 0});
  return Status::OK();
}

Status ListingReader::Push(const Id& child, uint8_t level, const std::string& first_name) {
  ASSIGN_OR_RETURN(Bytes bytes, GetTreeBlob(store_, child, what_, on_blob_));
  ASSIGN_OR_RETURN(TreeBlob blob, DecodeTreeBlob(bytes, TreeBlobKind::kListing, what_));
  const std::string* first = blob.level > 0       ? &blob.children[0].first_name
                             : blob.nodes.empty() ? nullptr
                                                  : &blob.nodes[0].name;
  if (blob.level != level || !first || *first != first_name) {
    return Status::Corruption(what_ + ": tree blob " + child.ShortHex() +
                              " does not fit where its parent puts it");
  }
  stack_.push_back(Frame{child, std::move(blob), 0});
  return Status::OK();
}

Result<bool> ListingReader::Next(Node* node) {
  if (!started_) RETURN_IF_ERROR(Start());
  if (v1_) {
    if (v1_next_ >= v1_nodes_.size()) return false;
    *node = std::move(v1_nodes_[v1_next_++]);
    return true;
  }
  for (;;) {
    Frame& f = stack_.back();
    if (f.blob.level == 0 && f.next < f.blob.nodes.size()) {
      Node& n = f.blob.nodes[f.next++];
      if (last_name_ && !(*last_name_ < n.name)) {
        return Status::Corruption(what_ + ": names out of order across tree blobs");
      }
      last_name_ = n.name;
      *node = std::move(n);
      return true;
    }
    if (f.blob.level > 0 && f.next < f.blob.children.size()) {
      const TreeChild& c = f.blob.children[f.next++];
      RETURN_IF_ERROR(Push(c.blob, f.blob.level - 1, c.first_name));
      continue;
    }
    if (stack_.size() == 1) return false;  // the root stays, for Seek
    stack_.pop_back();
  }
}

Status ListingReader::Seek(const std::string& name) {
  if (!started_) RETURN_IF_ERROR(Start());
  last_name_.reset();
  if (v1_) {
    v1_next_ = std::lower_bound(v1_nodes_.begin(), v1_nodes_.end(), name,
                                [](const Node& n, const std::string& v) { return n.name < v; }) -
               v1_nodes_.begin();
    return Status::OK();
  }
  stack_.resize(1);
  for (;;) {
    Frame& f = stack_.back();
    if (f.blob.level == 0) {
      const auto& nodes = f.blob.nodes;
      f.next = std::lower_bound(nodes.begin(), nodes.end(), name,
                                [](const Node& n, const std::string& v) { return n.name < v; }) -
               nodes.begin();
      return Status::OK();
    }
    // The last child whose first name is at most `name` (the first if there is none).
    const auto& children = f.blob.children;
    auto it =
        std::upper_bound(children.begin(), children.end(), name,
                         [](const std::string& v, const TreeChild& c) { return v < c.first_name; });
    const size_t i = it == children.begin() ? 0 : (it - children.begin()) - 1;
    f.next = i + 1;
    RETURN_IF_ERROR(Push(children[i].blob, f.blob.level - 1, children[i].first_name));
  }
}

ListingReader::Place ListingReader::place() const {
  if (v1_) return Place{root_, static_cast<uint32_t>(v1_next_ - 1)};
  const Frame& leaf = stack_.back();
  return Place{{leaf.id}, static_cast<uint32_t>(leaf.next - 1)};
}

Result<std::vector<Node>> LoadListingLeaf(BlobStore& store, const std::vector<Id>& leaf,
                                          const std::string& what) {
  if (leaf.empty()) return Status::Corruption(what + ": a listing leaf of no blobs");
  ASSIGN_OR_RETURN(Bytes first, GetTreeBlob(store, leaf[0], what, {}));
  if (!first.empty() && first[0] == kTreeVersionV1) {
    for (size_t i = 1; i < leaf.size(); ++i) {
      ASSIGN_OR_RETURN(Bytes b, GetTreeBlob(store, leaf[i], what, {}));
      first.insert(first.end(), b.begin(), b.end());
    }
    return DecodeTreeV1(first, what);
  }
  ASSIGN_OR_RETURN(TreeBlob blob, DecodeTreeBlob(first, TreeBlobKind::kListing, what));
  if (leaf.size() != 1 || blob.level != 0) {
    return Status::Corruption(what + ": tree blob " + leaf[0].ShortHex() +
                              " is not a leaf of a listing");
  }
  return std::move(blob.nodes);
}

ContentReader::ContentReader(BlobStore& store, const Node& file, std::string what)
    : store_(store),
      list_(file.content.list),
      inline_(file.content.list ? std::vector<ContentRun>{} : file.content.runs),
      size_(file.size),
      what_(std::move(what)) {}

Status ContentReader::Start() {
  started_ = true;
  if (!list_) return Status::OK();
  ASSIGN_OR_RETURN(Bytes bytes, GetTreeBlob(store_, *list_, what_, on_blob_));
  ASSIGN_OR_RETURN(TreeBlob blob, DecodeTreeBlob(bytes, TreeBlobKind::kContent, what_));
  if (blob.extent() != size_) {
    return Status::Corruption(what_ + ": its content list covers " + std::to_string(blob.extent()) +
                              " bytes, the file has " + std::to_string(size_));
  }
  stack_.push_back(Frame{std::move(blob), 0, 0});
  return Status::OK();
}

Status ContentReader::Push(const Id& child, uint8_t level, uint64_t extent, uint64_t base) {
  ASSIGN_OR_RETURN(Bytes bytes, GetTreeBlob(store_, child, what_, on_blob_));
  ASSIGN_OR_RETURN(TreeBlob blob, DecodeTreeBlob(bytes, TreeBlobKind::kContent, what_));
  if (blob.level != level || blob.extent() != extent) {
    return Status::Corruption(what_ + ": content list blob " + child.ShortHex() +
                              " does not fit where its parent puts it");
  }
  stack_.push_back(Frame{std::move(blob), 0, base});
  return Status::OK();
}

Result<bool> ContentReader::Next(ContentRun* run) {
  if (!started_) RETURN_IF_ERROR(Start());
  if (!list_) {
    if (inline_next_ >= inline_.size()) return false;
    *run = inline_[inline_next_++];
    offset_ += run->length;
    return true;
  }
  for (;;) {
    Frame& f = stack_.back();
    if (f.blob.level == 0 && f.next < f.blob.runs.size()) {
      *run = f.blob.runs[f.next++];
      offset_ += run->length;
      return true;
    }
    if (f.blob.level > 0 && f.next < f.blob.children.size()) {
      const size_t i = f.next++;
      const uint64_t start = i == 0 ? 0 : f.blob.children[i - 1].end;
      const TreeChild& c = f.blob.children[i];
      RETURN_IF_ERROR(Push(c.blob, f.blob.level - 1, c.end - start, f.base + start));
      continue;
    }
    if (stack_.size() == 1) return false;
    stack_.pop_back();
  }
}

Status ContentReader::Seek(uint64_t offset) {
  if (!started_) RETURN_IF_ERROR(Start());
  if (!list_) {
    offset_ = 0;
    for (inline_next_ = 0; inline_next_ < inline_.size(); ++inline_next_) {
      if (offset < offset_ + inline_[inline_next_].length) break;
      offset_ += inline_[inline_next_].length;
    }
    return Status::OK();
  }
  stack_.resize(1);
  for (;;) {
    Frame& f = stack_.back();
    if (f.blob.level == 0) {
      offset_ = f.base;
      for (f.next = 0; f.next < f.blob.runs.size(); ++f.next) {
        if (offset < offset_ + f.blob.runs[f.next].length) break;
        offset_ += f.blob.runs[f.next].length;
      }
      return Status::OK();
    }
    // The first child that ends after `offset` (none: past the end).
    const auto& children = f.blob.children;
    auto it = std::upper_bound(children.begin(), children.end(), offset - f.base,
                               [](uint64_t v, const TreeChild& c) { return v < c.end; });
    if (it == children.end()) {  // at or past the end: only the root is asked that
      f.next = children.size();
      offset_ = size_;
      return Status::OK();
    }
    const size_t i = it - children.begin();
    const uint64_t start = i == 0 ? 0 : children[i - 1].end;
    f.next = i + 1;
    RETURN_IF_ERROR(
        Push(children[i].blob, f.blob.level - 1, children[i].end - start, f.base + start));
  }
}

Status ContentWriter::Add(const ContentRun& run) {
  if (!list_) {
    if (inline_.size() < kMaxInlineRuns) {
      if (run.length == 0 || (!run.hole && run.length > UINT32_MAX)) {
        return Status::InvalidArgument("a content run of " + std::to_string(run.length) +
                                       " bytes (the format holds 1 byte to 4 GiB - 1 per chunk)");
      }
      inline_.push_back(run);
      return Status::OK();
    }
    list_.emplace(store_, TreeBlobKind::kContent);
    for (const ContentRun& r : inline_) RETURN_IF_ERROR(list_->AddRun(r));
    inline_.clear();
  }
  return list_->AddRun(run);
}

Status ContentWriter::Finish(Node* file) {
  file->content.runs.clear();
  file->content.list.reset();
  if (!list_) {
    file->content.runs = std::move(inline_);
    return Status::OK();
  }
  ASSIGN_OR_RETURN(Id root, list_->Finish());
  file->content.list = root;
  return Status::OK();
}

Result<StoredTree> StoreTree(BlobStore& store, const std::vector<Node>& nodes) {
  TreeBlobWriter writer(store, TreeBlobKind::kListing);
  for (const Node& n : nodes) RETURN_IF_ERROR(writer.AddNode(n));
  ASSIGN_OR_RETURN(Id root, writer.Finish());
  return StoredTree{{root}, writer.blobs_added(), writer.bytes_added()};
}

Result<std::vector<Node>> LoadTree(BlobStore& store, const std::vector<Id>& root,
                                   const std::string& what) {
  ListingReader reader(store, root, what);
  std::vector<Node> nodes;
  Node n;
  for (;;) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&n));
    if (!more) return nodes;
    nodes.push_back(std::move(n));
  }
}

Result<std::vector<ContentRun>> LoadContent(BlobStore& store, const Node& file,
                                            const std::string& what) {
  if (!file.content.list) return file.content.runs;
  ContentReader reader(store, file, what);
  std::vector<ContentRun> runs;
  ContentRun r;
  for (;;) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&r));
    if (!more) return runs;
    runs.push_back(r);
  }
}

namespace {

Status WalkDir(BlobStore& store, const std::vector<Id>& tree, const std::string& dir_path,
               const TreeVisitor& visit) {
  ListingReader reader(store, tree, "tree of " + (dir_path.empty() ? "/" : dir_path));
  Node n;
  for (;;) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&n));
    if (!more) return Status::OK();
    const std::string path = dir_path + "/" + n.name;
    ASSIGN_OR_RETURN(bool descend, visit(path, n));
    if (descend && n.type == NodeType::kDir) {
      RETURN_IF_ERROR(WalkDir(store, n.subtree, path, visit));
    }
  }
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
    ListingReader reader(store, current.subtree, "tree of " + (walked.empty() ? "/" : walked));
    RETURN_IF_ERROR(reader.Seek(name));
    Node found;
    ASSIGN_OR_RETURN(bool more, reader.Next(&found));
    if (!more || found.name != name) {
      return Status::NotFound("'" + path + "' is not in the snapshot");
    }
    walked += "/" + name;
    current = std::move(found);
  }
  return current;
}

}  // namespace repo
