// The filesystem side of the walk, shared by the snapshot's walk (archiver.cc) and the totals
// scan (totals_scanner.cc): naming entries, recognising cache directories, and how deep a walk
// may go. Listing a directory is dir_listing.h.
//
// Paths of any length (docs/design.md, "Snapshot pipeline"): a walk names each entry relative to
// an open directory fd, one per level; full paths serve only messages, excludes and the
// snapshot's names.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace repo {

// A directory the walk lists; entries are then named relative to it (paths of any length).
inline constexpr int kWalkDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// A directory only passed through on the way to a target: needs search permission only.
inline constexpr int kPassDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// `dir` + "/" + `name`, without doubling the '/' of the root.
std::string JoinPath(const std::string& dir, const std::string& name);

// `p` made absolute (relative to the working directory), with ".", ".." and repeated or trailing
// '/' resolved lexically. Symlinks are not followed, like tar and restic: a path that is a symlink
// is stored as the symlink.
std::string AbsolutePath(const std::string& p);

// The components of the absolute path `abs` ("/a/b" -> {"a", "b"}; "/" -> {}).
// REQUIRES: `abs` is lexically normal (AbsolutePath's result).
std::vector<std::string> PathComponents(const std::string& abs);

// Directories a walk may hold open at once (one per level), and why it is not more.
struct WalkDepth {
  uint64_t levels;
  bool by_fd_limit;  // the open-file limit set `levels` (a warning suggests raising it)
};

// The open-file limit (raised to the hard limit on the first call), less a reserve for what the
// snapshot opens besides its directories, halved for the totals scan that may run beside the
// walk; or 2048 levels, which bounds the walk's recursion, whichever is smaller.
WalkDepth WalkDepthLimit();

// True if the directory `dirfd` holds a CACHEDIR.TAG file starting with the signature of the
// Cache Directory Tagging Specification (https://bford.info/cachedir/); false if it is absent,
// unreadable or shorter than the signature.
bool IsCacheDir(int dirfd);

}  // namespace repo
