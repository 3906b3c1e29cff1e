#include "repo/archiver/hardlinks.h"

namespace repo {

HardlinkTable::Decision HardlinkTable::Follow(Node& node, const std::shared_ptr<DirState>& dir,
                                              size_t slot) {
  using State = LinkedInode::State;
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = links_.try_emplace(KeyOf(node));
  LinkedInode& l = it->second;
  if (inserted) l.links_left = node.nlink;
  if (l.links_left > 0) --l.links_left;
  if (inserted || l.state == State::kUnread) {
    l.state = State::kReading;
    l.size = node.size;
    l.mtime_ns = node.mtime_ns;
    l.ctime_ns = node.ctime_ns;
    l.content = {};
    return Decision::kReadFirst;
  }
  if (l.size != node.size || l.mtime_ns != node.mtime_ns || l.ctime_ns != node.ctime_ns) {
    // Changed since the first link was met: read this one on its own.
    if (l.links_left == 0 && l.state == State::kDone) links_.erase(it);
    return Decision::kReadAlone;
  }
  if (l.state == State::kReading) {
    l.followers.push_back(LinkFollower{std::move(node), dir, slot});
    return Decision::kWaits;
  }
  node.content = l.content;
  if (l.links_left == 0) links_.erase(it);
  return Decision::kTaken;
}

void HardlinkTable::NoteReused(const Node& node) {
  using State = LinkedInode::State;
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = links_.try_emplace(KeyOf(node));
  LinkedInode& l = it->second;
  if (inserted) l.links_left = node.nlink;
  if (inserted || l.state == State::kUnread) {
    l.state = State::kDone;
    l.size = node.size;
    l.mtime_ns = node.mtime_ns;
    l.ctime_ns = node.ctime_ns;
    l.content = node.content;
  }
  if (l.links_left > 0) --l.links_left;
  if (l.links_left == 0 && l.state != State::kReading) links_.erase(it);
}

void HardlinkTable::Leave(InodeKey key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(key);
  it->second.state = LinkedInode::State::kUnread;  // no followers: the walk is still on the first
  if (it->second.links_left == 0) links_.erase(it);
}

std::vector<LinkFollower> HardlinkTable::Share(const Node& first) {
  std::vector<LinkFollower> followers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = links_.find(KeyOf(first));  // present: nothing forgets a link being read
    followers = std::move(it->second.followers);
    if (it->second.links_left == 0) {
      links_.erase(it);
    } else {
      it->second.state = LinkedInode::State::kDone;
      it->second.content = first.content;
    }
  }
  for (LinkFollower& f : followers) f.node.content = first.content;  // outside the lock
  return followers;
}

size_t HardlinkTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return links_.size();
}

}  // namespace repo
