// File metadata between the filesystem and Nodes: what `snapshot` records and `restore` applies
// (type, mode, owner ids and names, times, xattrs including POSIX ACLs, symlink targets, devices).
// Entries are named by AtPath (repo/os/path_resolver.h), so they may be at any depth.
#pragma once

#include <sys/stat.h>

#include <string>

#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/os/path_resolver.h"

namespace repo {

// A Node for `at` (full path `path`, for messages) named `name`, from its lstat result:
// everything but content and subtree. Reading xattrs or a link target can fail (IOError naming
// the path); the caller decides whether that is fatal.
Result<Node> NodeFromStat(AtPath at, const std::string& path, std::string name,
                          const struct stat& st);

// Applies `node`'s metadata to the existing `at` (full path `path`, for messages), not following
// symlinks: owner (only when `set_owner`, i.e. running as root: ids, or ids looked up from names
// when those exist here), xattrs, mode (not for symlinks), then mtime/atime last. Returns the
// first failure, having tried everything. `fd`, when not -1, is open on the entry (a regular
// file or a directory) and is used instead of `at`: no lookup of the name at all.
Status ApplyMetadata(AtPath at, const std::string& path, const Node& node, bool set_owner,
                     int fd = -1);

}  // namespace repo
