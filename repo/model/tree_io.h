// Storing and loading directory listings and content lists through a BlobStore (docs/format.md,
// "Tree", "Tree blobs"). Readers take both tree versions: 2 (a B-tree of blobs, read a blob per
// level at a time) and 1 (format 1: a listing's pieces, read whole); writers write version 2.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/model/tree_blob.h"
#include "repo/store/blob_store.h"

namespace repo {

// A directory listing read as a stream of nodes in name order. `root` is a directory node's
// subtree or a snapshot's root tree; `what` names the directory in messages. Memory: a blob per
// level of the listing's B-tree (a format 1 listing is read whole). Every blob is checked as it
// is loaded: its kind and level, and that names increase across blobs.
class ListingReader {
 public:
  ListingReader(BlobStore& store, std::vector<Id> root, std::string what);

  // The next node into *node; false at the end.
  Result<bool> Next(Node* node);
  // Positions the reader so that Next returns the first node named `name` or after it.
  Status Seek(const std::string& name);
  // Calls `f` with the id of every tree blob the reader loads from now on (e.g. to count what
  // a listing occupies).
  void OnBlob(std::function<void(const Id&)> f) { on_blob_ = std::move(f); }

  // Where the node Next returned last lies: its leaf, as the blobs LoadListingLeaf takes (a
  // leaf blob; in format 1 the listing's pieces), and its index there. A name for a node that
  // stays valid as long as the listing exists (the mount's inode numbers).
  // REQUIRES: Next returned true.
  struct Place {
    std::vector<Id> leaf;
    uint32_t index = 0;
  };
  Place place() const;

 private:
  struct Frame {
    Id id;
    TreeBlob blob;
    size_t next = 0;
  };
  Status Start();
  // Loads `child` of level `level`, whose first node must be named `first_name`.
  Status Push(const Id& child, uint8_t level, const std::string& first_name);

  BlobStore& store_;
  const std::vector<Id> root_;
  const std::string what_;
  bool started_ = false;
  std::vector<Frame> stack_;  // version 2: the root, then one blob per level below it
  bool v1_ = false;
  std::vector<Node> v1_nodes_;  // version 1: the whole listing
  size_t v1_next_ = 0;
  std::optional<std::string> last_name_;
  std::function<void(const Id&)> on_blob_;
};

// A file's content runs read as a stream, inline or from its content list. `what` names the
// file in messages. Memory: a blob per level of the list's B-tree.
class ContentReader {
 public:
  ContentReader(BlobStore& store, const Node& file, std::string what);

  // The next run into *run; false at the end. A content list whose blobs do not add up to the
  // file's size is Corruption.
  Result<bool> Next(ContentRun* run);
  // Positions the reader so that Next returns the run holding byte `offset` of the file (none
  // if it is at or past the end). O(levels) blob loads.
  Status Seek(uint64_t offset);
  // Offset in the file of the run Next returns next.
  uint64_t offset() const { return offset_; }
  // Calls `f` with the id of every content list blob the reader loads from now on.
  void OnBlob(std::function<void(const Id&)> f) { on_blob_ = std::move(f); }

 private:
  struct Frame {
    TreeBlob blob;
    size_t next = 0;
    uint64_t base = 0;  // offset of the blob's first byte in the file
  };
  Status Start();
  // Loads `child` of level `level`, which must cover `extent` bytes, starting at `base`.
  Status Push(const Id& child, uint8_t level, uint64_t extent, uint64_t base);

  BlobStore& store_;
  const std::optional<Id> list_;
  std::vector<ContentRun> inline_;
  const uint64_t size_;
  const std::string what_;
  bool started_ = false;
  std::vector<Frame> stack_;  // the root, then one blob per level below it
  size_t inline_next_ = 0;
  uint64_t offset_ = 0;
  std::function<void(const Id&)> on_blob_;
};

// The nodes of the leaf `leaf` of a listing (a ListingReader::Place), in name order. `what`
// names the directory in messages; Corruption if it is not a leaf of a listing.
Result<std::vector<Node>> LoadListingLeaf(BlobStore& store, const std::vector<Id>& leaf,
                                          const std::string& what);

// Writes a file's content runs as they arrive: inline in the node when there are at most
// kMaxInlineRuns, else as a content list stored blob by blob (memory bounded whatever the size).
class ContentWriter {
 public:
  explicit ContentWriter(BlobStore& store) : store_(store) {}
  // The next run (length >= 1; data runs at most 4 GiB - 1: InvalidArgument otherwise).
  Status Add(const ContentRun& run);
  // Sets file->content or file->content_list (the other emptied).
  Status Finish(Node* file);

  uint64_t blobs_added() const { return list_ ? list_->blobs_added() : 0; }
  uint64_t bytes_added() const { return list_ ? list_->bytes_added() : 0; }

 private:
  BlobStore& store_;
  std::vector<ContentRun> inline_;
  std::optional<TreeBlobWriter> list_;
};

struct StoredTree {
  std::vector<Id> blobs;  // the listing's root blob: a directory node's subtree
  uint64_t blobs_added = 0;
  uint64_t bytes_added = 0;
};

// Stores a whole listing, `nodes` sorted with unique names (TreeBlobWriter for a stream).
Result<StoredTree> StoreTree(BlobStore& store, const std::vector<Node>& nodes);

// The whole listing of `root` (ListingReader, collected). `what` names the directory.
Result<std::vector<Node>> LoadTree(BlobStore& store, const std::vector<Id>& root,
                                   const std::string& what);

// The whole content of `file` as runs (ContentReader, collected): for callers that hold a
// bounded number of runs at once, not for a file of any size.
Result<std::vector<ContentRun>> LoadContent(BlobStore& store, const Node& file,
                                            const std::string& what);

// Visits every node under the tree `root` depth-first in name order, parents before children.
// `path` is the node's absolute path in the snapshot ("/etc/passwd"). `visit` returns whether to
// descend into a directory (ignored for other nodes); an error from it stops the walk.
using TreeVisitor = std::function<Result<bool>(const std::string& path, const Node& node)>;
Status WalkTree(BlobStore& store, const std::vector<Id>& root, const TreeVisitor& visit);

// The node at absolute `path` under `root` ("/" gives a directory node for the root itself).
// NotFound naming the path if there is none.
Result<Node> FindNode(BlobStore& store, const std::vector<Id>& root, const std::string& path);

}  // namespace repo
