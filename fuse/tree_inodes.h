// TreeInodes: inode numbers for the stored nodes of snapshots in the mount, and the nodes they
// name.
//
// A node is named by its place: the leaf of its directory's listing that holds it (a tree blob,
// ListingReader::Place) and its index there. Each leaf seen under a directory gets a number
// (its slot, from 1), and a node's inode is slot << 26 | index (a leaf holds fewer than 2^26
// nodes; below 2^26 are the layout's virtual nodes). So the mount keeps about 100 bytes per leaf
// of a directory it has shown (a leaf holds ~160 nodes), not per node: `ls -lR` of a million
// files costs a few MB. Slots are never reused while mounted, so a number the kernel holds
// keeps naming the same node (the kernel's forget needs no bookkeeping).
//
// A leaf is keyed by its directory too: two directories with equal listings (two empty ones,
// one tree in two snapshots) have distinct inodes, as the kernel wants of directories.
//
// Decoded leaves are kept in a small LRU cache, as getattr and getxattr come node by node.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/model/tree_io.h"
#include "repo/store/blob_store.h"

namespace repo::mount {

class TreeInodes {
 public:
  static constexpr int kIndexBits = 26;
  // Decoded leaves kept (each ~160 nodes; at most 4096 in a format 2 listing).
  static constexpr size_t kCachedLeaves = 256;

  // A stored node: the leaf that holds it, kept alive while held, and its index there.
  struct NodeRef {
    std::shared_ptr<const std::vector<Node>> leaf;
    uint32_t index = 0;
    uint64_t dir = 0;       // the inode of its directory
    uint64_t snapshot = 0;  // the inode of the snapshot directory it lies under
    const Node& node() const { return (*leaf)[index]; }
  };

  // `store` must outlive this.
  explicit TreeInodes(BlobStore& store) : store_(store) {}

  // Whether `ino` names a stored node (else one of the layout's).
  static bool IsStored(uint64_t ino) { return (ino >> kIndexBits) != 0; }

  // The inode of the node at `place` in the directory with inode `dir`, which lies under the
  // snapshot directory `snapshot`.
  uint64_t Ino(uint64_t dir, uint64_t snapshot, const ListingReader::Place& place);

  // The node with inode `ino`. NotFound if no such inode was made; Corruption (or the backend's
  // error) if its leaf does not read as it did. Messages do not name the node: the caller adds
  // its path.
  Result<NodeRef> Get(uint64_t ino);
  // The inode of the directory holding the node `ino`, without loading anything; 0 if none.
  uint64_t DirOf(uint64_t ino);

 private:
  struct Leaf {
    uint64_t dir = 0;
    uint64_t snapshot = 0;
    std::vector<Id> blobs;
  };
  struct Cached {
    std::shared_ptr<const std::vector<Node>> nodes;
    std::list<uint64_t>::iterator in_lru;
  };

  BlobStore& store_;
  std::mutex mu_;
  std::deque<Leaf> leaves_;                          // slot s at [s - 1]
  std::unordered_map<std::string, uint64_t> slots_;  // dir and first blob -> slot
  std::unordered_map<uint64_t, Cached> cache_;       // slot -> decoded leaf
  std::list<uint64_t> lru_;                          // cached slots, most recently used first
};

}  // namespace repo::mount
