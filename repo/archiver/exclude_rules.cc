#include "repo/archiver/exclude_rules.h"

#include "repo/model/path_glob.h"

namespace repo {

bool IsExcluded(const ExcludeRules& rules, const std::string& path, const std::string& name) {
  return AnyPathGlobMatches(rules.patterns, path);
}

}  // namespace repo
