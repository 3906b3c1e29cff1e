// SnapshotLayout: the top of the mount, the directories that lead to snapshots (docs/cli.md,
// "repo mount"):
//
//   snapshots/<time>/...   every snapshot by the local time it was taken
//   snapshots/latest       a symlink to the newest
//   ids/<short id>/...     every snapshot by its id
//   hosts/<host>/<time>/   the snapshots of each host (and latest)
//   tags/<tag>/<time>/     the snapshots with each tag (and latest)
//
// Time names are "2026-12-08T01:02:03+01:00" ('Z' for UTC); a later snapshot in the same second
// gets "-1", "-2". The list of snapshots is read again when a lookup or listing of these
// directories finds it older than `refresh_after`, so snapshots written after mounting appear and
// forgotten ones disappear without remounting.
//
// Every node here is virtual (made up by the mount, not stored) and has an inode number below
// 2^26 (tree_inodes.h numbers the stored nodes above it); kRootIno is the mount's root. A
// snapshot directory is one node per place it appears (snapshots/<time> and ids/<id> are two
// directories, as two paths to one tree must be for the kernel), keyed by its parent, its name
// and its snapshot: a name that comes to mean another snapshot gets a new inode.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/snapshot.h"
#include "repo/store/repository.h"

namespace repo::mount {

inline constexpr uint64_t kRootIno = 1;  // FUSE_ROOT_ID

enum class VirtualKind : uint8_t {
  kRoot,       // the mount's root: snapshots, ids, hosts, tags
  kSnapshots,  // snapshots/: every snapshot by time, and latest
  kIds,        // ids/: every snapshot by id
  kHosts,      // hosts/: a directory per host
  kHost,       // hosts/<host>/: its snapshots by time, and latest
  kTags,       // tags/: a directory per tag
  kTag,        // tags/<tag>/: the snapshots with the tag by time, and latest
  kSnapshot,   // a snapshot's root directory: its tree follows
  kLatest,     // the symlink `latest` in a directory of snapshots by time
};

struct VirtualNode {
  VirtualKind kind = VirtualKind::kRoot;
  uint64_t parent = kRootIno;
  std::string name;
  std::string key;       // kHost: the host; kTag: the tag
  Id snapshot;           // kSnapshot
  std::vector<Id> tree;  // kSnapshot: its root tree
  int64_t time_ns = 0;   // kSnapshot: when it was taken; directories: the newest snapshot's
  bool is_dir() const { return kind != VirtualKind::kLatest; }
};

// The local time of `time_ns` as the layout names it: "2026-12-08T01:02:03+01:00" or "...Z".
std::string TimeName(int64_t time_ns);

class SnapshotLayout {
 public:
  // Inode numbers of virtual nodes are below this.
  static constexpr uint64_t kInoLimit = uint64_t{1} << 26;

  // `repo` must outlive the layout.
  SnapshotLayout(Repository& repo, std::chrono::milliseconds refresh_after);

  // The virtual node `ino` (a copy). NotFound if there is none.
  Result<VirtualNode> Get(uint64_t ino);
  // The child `name` of the virtual directory `parent`: its inode number. NotFound if it has
  // none (now: the snapshot list is read again first if it is old).
  Result<uint64_t> Lookup(uint64_t parent, const std::string& name);
  // The children of the virtual directory `parent` (name, inode), in name order.
  Result<std::vector<std::pair<std::string, uint64_t>>> List(uint64_t parent);
  // Where the symlink `latest` (inode `ino`) points now: the name of the newest snapshot beside
  // it. NotFound if its directory has no snapshot any more.
  Result<std::string> LatestTarget(uint64_t ino);

 private:
  struct Child {
    std::string name;
    VirtualKind kind;
    std::string key;
    const SnapshotRef* snapshot = nullptr;
  };
  // The children of `parent` now. REQUIRES: mu_ held.
  Result<std::vector<Child>> ChildrenLocked(const VirtualNode& parent);
  // The inode of `child` of `parent`, made on first use (IOError once kInoLimit are made).
  // REQUIRES: mu_ held.
  Result<uint64_t> InoLocked(uint64_t parent, const Child& child);
  // Reads the snapshot list again if it is older than refresh_after_. REQUIRES: mu_ held.
  Status RefreshLocked();

  Repository& repo_;
  const std::chrono::milliseconds refresh_after_;

  std::mutex mu_;
  std::vector<SnapshotRef> snapshots_;  // oldest first
  std::chrono::steady_clock::time_point listed_at_;
  bool listed_ = false;
  std::deque<VirtualNode> nodes_;                     // by inode number; [0] unused, [1] the root
  std::unordered_map<std::string, uint64_t> by_key_;  // parent, name, snapshot -> inode
};

}  // namespace repo::mount
