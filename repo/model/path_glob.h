// Path globs, as --exclude, --include and `repo find` take them (docs/cli.md, "repo snapshot").
#pragma once

#include <string>
#include <vector>

namespace repo {

// fnmatch(3) globs. A pattern without '/' matches the last component of `path` (a name in any
// directory); a pattern with '/' matches the whole absolute path, and there '*' may cross '/'.
// A leading '.' needs no explicit match ('*.tmp' matches '.x.tmp'), as in tar and restic.
bool PathGlobMatches(const std::string& pattern, const std::string& path);
// True if any of `patterns` matches `path`.
bool AnyPathGlobMatches(const std::vector<std::string>& patterns, const std::string& path);

}  // namespace repo
