// Comparing two snapshot trees (`repo diff`).
//
// Both trees are walked together, directory by directory, in name order. A directory whose tree
// blob ids are equal on both sides is identical all the way down and is not loaded, so the cost
// is proportional to what changed (plus the directories leading to it), not to the tree size.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/store/blob_store.h"

namespace repo {

enum class ChangeKind : uint8_t {
  kAdded,     // '+': only in the second tree (and everything below it, if a directory)
  kRemoved,   // '-': only in the first tree (and everything below it)
  kModified,  // 'M': a file whose content differs (metadata may differ too)
  kMetadata,  // 'U': same content, but mode, owner, mtime, xattrs, link target or rdev differ
  kType,      // 'T': the type differs (file became a symlink, directory became a file, ...)
};
// '+', '-', 'M', 'U', 'T'.
char ChangeModifier(ChangeKind k);

struct TreeChange {
  ChangeKind kind = ChangeKind::kAdded;
  std::string path;                 // absolute in the snapshot, no trailing '/'
  NodeType type = NodeType::kFile;  // the node's type in the second tree (first for kRemoved)
  // For kModified and kMetadata, what differs, in this order: "content", "mode", "owner",
  // "mtime", "xattrs", "link_target", "rdev". For kType: "type". Empty for kAdded/kRemoved.
  // Not compared: ctime, inode, device and link count, which change whenever a tree is restored
  // or copied to another filesystem and say nothing about the file.
  std::vector<std::string> what;
};

struct DiffStats {
  struct Counts {
    uint64_t files = 0, dirs = 0, others = 0;  // others: symlinks, devices, fifos, sockets
  };
  Counts added, removed;      // including everything below added or removed directories
  uint64_t modified = 0;      // 'M' (files)
  uint64_t metadata = 0;      // 'U' (any type)
  uint64_t type_changed = 0;  // 'T'
  // Logical file sizes. A modified file counts its old size as removed and its new size as
  // added, and a type change counts each side's files, so bytes_added − bytes_removed is the
  // change in restore size from the first tree to the second.
  uint64_t bytes_added = 0, bytes_removed = 0;
};

using ChangeVisitor = std::function<void(const TreeChange& change)>;

// Reports every difference between the trees rooted at `before` and `after`, depth first in
// name order, a directory's own change before the changes inside it. Adds to `*stats` (which
// may be null). Stops at the first tree blob that cannot be read or decoded.
Status DiffTrees(BlobStore& store, const std::vector<Id>& before, const std::vector<Id>& after,
                 const ChangeVisitor& visit, DiffStats* stats);

}  // namespace repo
