// The restore walk, the plan of `repo restore` (restorer.h) as a stream: one walk of the snapshot
// tree decides what is restored and where. It applies --include and --exclude, creates only the
// directories needed to reach what is selected, and gives the selected entries in tree order as
// steps: directories to create, files to fill, hardlinks to make to a file restored earlier in
// the walk, other nodes (symlinks, fifos, devices, sockets), and the end of each directory
// created (when its metadata can be applied).
//
// Memory: a blob per level of each listing on the path being walked, and the first path of each
// hardlink group met (nlink > 1), whatever the number of entries.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/restorer/restorer.h"
#include "repo/store/blob_store.h"

namespace repo {

// A regular file whose content is written: its target path and its node.
struct PlannedFile {
  std::string path;
  Node node;
};

struct RestoreStep {
  enum class Kind {
    kDir,      // create the directory (its parent was created by an earlier step)
    kFile,     // restore the file
    kOther,    // create the symlink, fifo, device or socket
    kLink,     // link `path` to `link_to`, the group's file restored first
    kDirDone,  // every step inside the directory came before: apply its metadata
  };
  Kind kind = Kind::kDir;
  // A target path: RestoreOptions::target followed by the snapshot path.
  std::string path;
  Node node;            // the entry's node (kDirDone: the directory's)
  std::string link_to;  // kLink only
};

// Steps in tree order (depth-first, names sorted, parents before children, each directory's
// kDirDone after everything inside it). Without includes, every directory reached is created;
// with includes, only those matched (or under a match) and the ancestors of selected entries,
// so a directory walked through without a selected entry below it is not created. A hardlink
// group is the files with the same (device, inode) and nlink > 1: its first selected path is a
// kFile, the later ones kLink to it.
class RestoreWalk {
 public:
  // The tree `root_tree` (a snapshot's root listing) restored under options.target, which should
  // be absolute without a trailing '/' ("" restores to /, as snapshot paths are absolute). Uses
  // options.target, includes and excludes only. REQUIRES: `store` outlives the walk.
  RestoreWalk(BlobStore& store, const std::vector<Id>& root_tree, const RestoreOptions& options);
  ~RestoreWalk();

  // The next step into *step; false at the end. The error of a tree that cannot be loaded
  // (Corruption, NotFound, IOError) stops the walk.
  Result<bool> Next(RestoreStep* step);

 private:
  struct Frame;
  // Queues kDir steps for the directories on the walk's path not created yet.
  void CreateAncestors();

  BlobStore& store_;
  const RestoreOptions& options_;
  std::vector<Frame> stack_;  // the directories on the path, the root listing first
  size_t created_ = 1;        // stack_[0, created_) are created (the root is the target)
  std::deque<RestoreStep> queued_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> first_link_;  // (dev, ino) -> target
};

// Whether the walk keeps `path` (absolute, in the snapshot): no exclude matches it and,
// when there are includes, one matches it or one of its ancestors, or it is a directory (which
// may lead to a match below it; the walk creates it only if one is found). Excludes are matched
// against `path` itself: the walk does not descend into an excluded directory, so nothing under
// one is asked about.
bool RestoreSelects(const RestoreOptions& options, const std::string& path, bool is_dir);

}  // namespace repo
