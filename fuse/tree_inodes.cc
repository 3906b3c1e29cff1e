#include "fuse/tree_inodes.h"

#include <utility>

namespace repo::mount {

uint64_t TreeInodes::Ino(uint64_t dir, uint64_t snapshot, const ListingReader::Place& place) {
  std::string key(reinterpret_cast<const char*>(&dir), sizeof dir);
  key.append(reinterpret_cast<const char*>(place.leaf[0].data()), Id::kSize);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, created] = slots_.try_emplace(std::move(key), leaves_.size() + 1);
  if (created) leaves_.push_back(Leaf{dir, snapshot, place.leaf});
  return it->second << kIndexBits | place.index;
}

uint64_t TreeInodes::DirOf(uint64_t ino) {
  const uint64_t slot = ino >> kIndexBits;
  std::lock_guard<std::mutex> lock(mu_);
  return slot == 0 || slot > leaves_.size() ? 0 : leaves_[slot - 1].dir;
}

Result<TreeInodes::NodeRef> TreeInodes::Get(uint64_t ino) {
  const uint64_t slot = ino >> kIndexBits;
  const uint32_t index = static_cast<uint32_t>(ino & ((uint64_t{1} << kIndexBits) - 1));
  Leaf leaf;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (slot == 0 || slot > leaves_.size()) return Status::NotFound("no such inode");
    const Leaf& l = leaves_[slot - 1];
    if (auto it = cache_.find(slot); it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.in_lru);
      if (index >= it->second.nodes->size()) return Status::NotFound("no such inode");
      return NodeRef{it->second.nodes, index, l.dir, l.snapshot};
    }
    leaf = l;
  }
  // Loaded without the lock (a tree blob read); two threads may load one leaf at once, which
  // costs only the read.
  ASSIGN_OR_RETURN(std::vector<Node> nodes, LoadListingLeaf(store_, leaf.blobs, "its listing"));
  auto shared = std::make_shared<const std::vector<Node>>(std::move(nodes));
  if (index >= shared->size()) {
    return Status::Corruption("its listing leaf " + leaf.blobs[0].ShortHex() +
                              " has fewer nodes than before");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, created] = cache_.try_emplace(slot);
  if (created) {
    lru_.push_front(slot);
    it->second = Cached{shared, lru_.begin()};
    if (cache_.size() > kCachedLeaves) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  return NodeRef{shared, index, leaf.dir, leaf.snapshot};
}

}  // namespace repo::mount
