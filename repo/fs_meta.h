// File metadata between the filesystem and Nodes: what `snapshot` records and `restore` applies
// (type, mode, owner ids and names, times, xattrs including POSIX ACLs, symlink targets, devices).
#pragma once

#include <sys/stat.h>

#include <string>

#include "base/status.h"
#include "repo/tree.h"

namespace repo {

// A Node for `path` from its lstat result: everything but content and subtree. Reading xattrs or
// a link target can fail (IOError naming the path); the caller decides whether that is fatal.
Result<Node> NodeFromStat(const std::string& path, std::string name, const struct stat& st);

// The user and group names of ids ("" if none); cached, thread-safe.
std::string UserName(uint32_t uid);
std::string GroupName(uint32_t gid);

// Applies `node`'s metadata to the existing `path` (not following symlinks): owner (only when
// `set_owner`, i.e. running as root: ids, or ids looked up from names when those exist here),
// xattrs, mode (not for symlinks), then mtime/atime last. Returns the first failure, having tried
// everything.
Status ApplyMetadata(const std::string& path, const Node& node, bool set_owner);

}  // namespace repo
