// Hardlinks are read once per snapshot (docs/design.md, "Snapshot pipeline", hardlink bullet).
//
// A regular file with more than one link is keyed by (device, inode) for the walk. The first link
// met is read; a later link whose size, mtime and ctime equal the first's stat takes the first's
// content list instead of being read again: at once if it is stored, else when the first link
// completes (it waits in the table). A link unchanged since the parent snapshot gives its reused
// content to the links after it. A first link that gives no content (unreadable, or changed while
// read) makes the next link met be read in its place. An inode is forgotten once the walk has met
// as many links as its first stat's link count.
//
// The table decides and hands back data; the archiver resolves the links and counts them.
// Thread-safety: every method may be called from any thread (one internal mutex); Follow,
// NoteReused and Leave come from the walker, Share from whichever thread completes a first link.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "repo/archiver/pipeline_state.h"
#include "repo/model/tree.h"

namespace repo {

// (st_dev, st_ino): what makes two links the same file.
using InodeKey = std::pair<uint64_t, uint64_t>;
inline InodeKey KeyOf(const Node& node) { return {node.device, node.inode}; }

class HardlinkTable {
 public:
  // What to do with a link Follow was given.
  enum class Decision {
    kReadFirst,  // read it; later links follow it: then Leave(), or Share() once it completes
    kReadAlone,  // read it on its own: its stat differs from the first link's
    kWaits,      // the table keeps it (moved out of `node`) until Share() hands it back
    kTaken,      // `node.content` is now the first link's: resolve it at once
  };

  HardlinkTable() = default;
  HardlinkTable(const HardlinkTable&) = delete;
  HardlinkTable& operator=(const HardlinkTable&) = delete;

  // A link of a multiply-linked regular file, met by the walk, whose content is not reused from
  // the parent snapshot. `dir` and `slot` say where it resolves if it waits.
  // REQUIRES: node.nlink > 1.
  Decision Follow(Node& node, const std::shared_ptr<DirState>& dir, size_t slot);

  // A link whose content was reused from the parent snapshot: links met later may take it.
  // REQUIRES: node.nlink > 1, node.content set.
  void NoteReused(const Node& node);

  // The first link of `key` (kReadFirst) gives no content (it was dropped, or changed while it
  // was read): the next link met is read in its place.
  // REQUIRES: Share was not called for it, and no link waits on it: the walker calls this
  // before it goes on to another entry.
  void Leave(InodeKey key);

  // `first` (kReadFirst) is complete, its content list final: returns the links that wait for
  // it, each with that content set, for the caller to resolve. Links met later take it at once.
  // REQUIRES: Follow returned kReadFirst for `first` and Leave was not called for it.
  std::vector<LinkFollower> Share(const Node& first);

  // Inodes kept because the walk has not met all their links yet (each costs about 150 bytes,
  // plus its content list once shared).
  size_t size() const;

 private:
  struct LinkedInode {
    enum class State {
      kReading,  // the first link is being read or its chunks stored: later links wait
      kDone,     // `content` is the first link's
      kUnread,   // the first link gave no content: the next link is read
    };
    State state = State::kReading;
    uint64_t size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;   // the first link's stat, before it was read
    uint64_t links_left = 0;              // links the walk has not met yet
    FileContent content;                  // kDone
    std::vector<LinkFollower> followers;  // kReading
  };

  mutable std::mutex mu_;
  std::map<InodeKey, LinkedInode> links_;
};

}  // namespace repo
