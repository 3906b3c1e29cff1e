#include "repo/restorer/restore_plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "repo/model/path_glob.h"
#include "repo/model/tree_io.h"

namespace repo {
namespace {

bool MatchesSelfOrAncestor(const std::vector<std::string>& patterns, const std::string& path) {
  for (size_t end = path.size(); end > 0; end = path.rfind('/', end - 1)) {
    const std::string prefix = path.substr(0, end);
    for (const auto& p : patterns) {
      if (PathGlobMatches(p, prefix)) return true;
    }
    if (end == 0) break;
  }
  return false;
}

bool RestoreSelectsImpl(const RestoreOptions& o, const std::string& path, bool is_dir,
                        bool* descend_only) {
  *descend_only = false;
  for (const auto& p : o.excludes) {
    if (PathGlobMatches(p, path)) return false;
  }
  if (o.includes.empty() || MatchesSelfOrAncestor(o.includes, path)) return true;
  // A directory not matched itself may still lead to a match below it.
  if (is_dir) *descend_only = true;
  return is_dir;
}

}  // namespace

bool RestoreSelects(const RestoreOptions& options, const std::string& path, bool is_dir) {
  bool descend_only;
  return RestoreSelectsImpl(options, path, is_dir, &descend_only);
}

Result<RestorePlan> PlanRestore(BlobStore& store, const std::vector<Id>& root_tree,
                                const RestoreOptions& options) {
  RestorePlan plan;
  auto target_path = [&](const std::string& snapshot_path) {
    return options.target + snapshot_path;
  };
  std::map<std::pair<uint64_t, uint64_t>, std::string> first_link;  // (dev, ino) -> target path
  std::set<std::string> created_dirs;
  // Directories seen but not yet needed (only walked through to reach an include).
  std::map<std::string, Node> pending_dirs;
  std::string known_parent;  // the last parent whose chain is done: its ancestors are too
  auto need_dir_chain = [&](const std::string& snap_path) {
    // Make every ancestor directory of snap_path part of the restore.
    const size_t last = snap_path.rfind('/');
    if (last == std::string::npos || last == 0) return;
    const std::string_view parent(snap_path.data(), last);
    if (parent == known_parent) return;  // a sibling of the previous entry: the common case
    std::vector<std::string> chain;
    for (size_t end = snap_path.rfind('/'); end != std::string::npos && end > 0;
         end = snap_path.rfind('/', end - 1)) {
      chain.push_back(snap_path.substr(0, end));
    }
    std::reverse(chain.begin(), chain.end());
    for (const auto& d : chain) {
      if (created_dirs.insert(d).second) {
        auto it = pending_dirs.find(d);
        if (it != pending_dirs.end()) plan.dirs.emplace_back(target_path(d), it->second);
      }
    }
    known_parent.assign(parent);
  };
  RETURN_IF_ERROR(
      WalkTree(store, root_tree, [&](const std::string& path, const Node& n) -> Result<bool> {
        bool descend_only = false;
        if (!RestoreSelectsImpl(options, path, n.type == NodeType::kDir, &descend_only)) {
          return false;
        }
        if (n.type == NodeType::kDir) {
          pending_dirs[path] = n;
          if (!descend_only) {
            need_dir_chain(path);
            if (created_dirs.insert(path).second) plan.dirs.emplace_back(target_path(path), n);
          }
          return true;
        }
        need_dir_chain(path);
        const std::string target = target_path(path);
        if (n.type == NodeType::kFile) {
          if (n.nlink > 1) {
            auto [it, first] = first_link.emplace(std::make_pair(n.device, n.inode), target);
            if (!first) {
              plan.links.emplace_back(target, it->second);
              return false;
            }
          }
          plan.files.push_back({target, n});
          plan.total_files++;
          plan.total_bytes += n.size;
        } else {
          plan.others.emplace_back(target, n);
        }
        return false;
      }));
  return plan;
}

}  // namespace repo
