// What `repo snapshot` leaves out (--exclude, --exclude-caches, --one-file-system,
// --exclude-larger-than). The walk and the totals scan apply the same rules, so the totals count
// what the snapshot will hold.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace repo {

struct ExcludeRules {
  // Globs as repo/model/path_glob.h matches them: without '/' a name in any directory, with '/' the
  // whole absolute path.
  std::vector<std::string> patterns;
  bool exclude_caches = false;       // skip the contents of directories holding a CACHEDIR.TAG
  bool one_file_system = false;      // do not descend into other filesystems
  uint64_t exclude_larger_than = 0;  // skip files larger than this (0: no limit)
};

// True if `path` (absolute) with final component `name` is excluded by a pattern.
bool IsExcluded(const ExcludeRules& rules, const std::string& path, const std::string& name);

}  // namespace repo
