// Checks made before mounting, each failing with one line that says what to do (docs/cli.md,
// "repo mount"): libfuse3 itself would mount over a non-empty directory and name problems in
// its own words.
#pragma once

#include <string>

#include "base/status.h"

namespace repo::mount {

// OK if `path` is an empty directory with nothing mounted on it. InvalidArgument if it does not
// exist, is not a directory, is not empty, or is busy (a mount is there, or one whose process
// is gone: "Transport endpoint is not connected").
Status CheckMountpoint(const std::string& path);

// OK if /dev/fuse can be opened for reading and writing; IOError saying how to get it if not.
Status CheckFuseDevice();

}  // namespace repo::mount
