// The restore plan, the first step of `repo restore` (restorer.h): one walk of the snapshot tree
// decides what is restored and where, before anything is written. It applies --include and
// --exclude, keeps the directories needed to reach what is selected, and sorts the selected
// entries into directories to create, files to fill, hardlinks to make to a file restored earlier
// in the walk, and other nodes (symlinks, fifos, devices, sockets).
//
// Memory: the plan holds one entry (target path and node, with a file's content runs) per
// restored node, so it grows with the selection.
#pragma once

#include <cstdint>
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

// What to restore, every list in tree order (depth-first, names sorted, parents before
// children). Every path is a target path: RestoreOptions::target followed by the snapshot path.
struct RestorePlan {
  // Directories to create, each after its parent. Without includes, every directory reached;
  // with includes, only those matched (or under a match) and the ancestors of selected entries,
  // so a directory walked through without a selected entry below it is not created.
  std::vector<std::pair<std::string, Node>> dirs;
  // Regular files, including the first selected path of each hardlink group.
  std::vector<PlannedFile> files;
  // Symlinks, fifos, character and block devices, sockets.
  std::vector<std::pair<std::string, Node>> others;
  // Hardlinks: (path, path of the group's file in `files`). A group is the files with the same
  // (device, inode) and nlink > 1; its first selected path is restored, the later ones linked.
  std::vector<std::pair<std::string, std::string>> links;
  uint64_t total_files = 0;  // files.size()
  uint64_t total_bytes = 0;  // the sum of the sizes of `files` (links not counted again)
};

// Plans restoring the tree `root_tree` (a snapshot's root listing) under options.target, which
// should be absolute without a trailing '/' ("" restores to /, as snapshot paths are absolute).
// Uses options.target, includes and excludes only. Reads the tree blobs through `store`; the
// error of a tree that cannot be loaded (Corruption, NotFound, IOError) stops the plan.
Result<RestorePlan> PlanRestore(BlobStore& store, const std::vector<Id>& root_tree,
                                const RestoreOptions& options);

// Whether the plan's walk keeps `path` (absolute, in the snapshot): no exclude matches it and,
// when there are includes, one matches it or one of its ancestors, or it is a directory (which
// may lead to a match below it; the plan creates it only if one is found). Excludes are matched
// against `path` itself: the walk does not descend into an excluded directory, so nothing under
// one is asked about.
bool RestoreSelects(const RestoreOptions& options, const std::string& path, bool is_dir);

}  // namespace repo
