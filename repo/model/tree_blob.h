// Tree blobs of tree version 2 (docs/format.md, "Tree blobs"): how a directory listing, and the
// content list of a file with more than kMaxInlineRuns runs, are stored as a B-tree of tree
// blobs, so that any of them is written and read as a stream (memory bounded by a few blobs per
// level, whatever its length) and searched by name or by offset with one blob load per level.
//
// Leaves (level 0) hold the entries: node records (a listing) or content runs with their
// cumulative end offsets (a content list). An inner blob of level n holds its children of level
// n - 1: their ids with, for a listing, the name of each child's first node, for a content list,
// each child's cumulative end offset. Offsets are relative to the blob that holds them, so that
// inserting data into a file changes only the blobs on the path to the edit.
//
// Blobs end where the entries say (content-defined): after an entry whose hash meets a mask, once
// a blob holds a minimum number of entries, or at a maximum. An unchanged listing or file gives
// the same blobs, and a file appended to keeps every blob but the last on each level.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/store/blob_store.h"

namespace repo {

enum class TreeBlobKind : uint8_t {
  kListing = 1,  // a directory listing: node records, by name
  kContent = 2,  // a file's content list: runs, by offset
};

// Levels of a B-tree: leaves are level 0, a root at most kMaxTreeLevels - 1.
inline constexpr int kMaxTreeLevels = 8;

// An entry of an inner blob: one child blob.
struct TreeChild {
  Id blob;
  uint64_t end = 0;        // content: the child's cumulative end offset within this blob
  std::string first_name;  // listing: the name of the child's first node
  friend bool operator==(const TreeChild&, const TreeChild&) = default;
};

// One tree blob of version 2, decoded.
struct TreeBlob {
  TreeBlobKind kind = TreeBlobKind::kListing;
  uint8_t level = 0;
  std::vector<Node> nodes;          // listing leaf: sorted, unique names
  std::vector<ContentRun> runs;     // content leaf: each of length >= 1
  std::vector<TreeChild> children;  // inner: at least one

  // The bytes it covers: a content leaf's run lengths summed, an inner blob's last end.
  uint64_t extent() const;
  friend bool operator==(const TreeBlob&, const TreeBlob&) = default;
};

// The plaintext of `blob`. InvalidArgument if it breaks a rule the decoder enforces.
Result<Bytes> EncodeTreeBlob(const TreeBlob& blob);
// Parses one version 2 tree blob of kind `kind`. Corruption naming `what` if it is malformed or
// of another kind; UnsupportedVersion if its version is newer than this binary's.
Result<TreeBlob> DecodeTreeBlob(ByteSpan bytes, TreeBlobKind kind, const std::string& what);

// Writes one listing or one content list bottom-up as its entries arrive, storing each blob as
// soon as it ends: memory is a blob per level. Not thread-safe.
class TreeBlobWriter {
 public:
  TreeBlobWriter(BlobStore& store, TreeBlobKind kind);

  // A listing's next node; names must be valid and increase (InvalidArgument otherwise, or if
  // the node cannot be represented, naming it).
  Status AddNode(const Node& node);
  // A content list's next run (length >= 1; a data run at most 4 GiB - 1).
  Status AddRun(const ContentRun& run);
  // Stores what is left and returns the root blob. A listing with no nodes is one empty leaf;
  // a content list must have had a run.
  Result<Id> Finish();

  uint64_t blobs_added() const { return blobs_added_; }
  uint64_t bytes_added() const { return bytes_added_; }

 private:
  struct Level {
    Bytes body;  // a reserved header, then the entries
    uint32_t count = 0;
    uint64_t extent = 0;     // content: bytes covered so far
    std::string first_name;  // listing: the first entry's name
    Id last_child;           // inner: the last child added
  };
  Level& At(size_t level);
  // Stores level `level` as a blob and adds it to the level above (creating it).
  Status Flush(size_t level);
  Result<Id> Store(Level& l, size_t level);
  Status AddChild(size_t level, const Id& child, uint64_t extent, const std::string& first_name);

  BlobStore& store_;
  const TreeBlobKind kind_;
  std::vector<Level> levels_;
  std::string last_name_;
  bool any_ = false;
  Bytes record_;  // scratch
  uint64_t blobs_added_ = 0, bytes_added_ = 0;
};

}  // namespace repo
