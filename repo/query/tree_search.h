// TreeSearch: finds the nodes of snapshot trees whose name or path matches glob patterns
// (`repo find`).
//
// Nightly snapshots of a mostly unchanged tree share most of their directories: an unchanged
// directory has the same tree blob ids in every snapshot. A TreeSearch remembers, per directory
// (keyed by its tree blob ids, plus its path when a pattern depends on the path), which nodes
// below it matched, so searching thirty snapshots of an unchanged tree loads each distinct
// directory once. Memory: one small entry per distinct directory visited, plus the matches.
//
// Thread-safety: none; one TreeSearch per thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/store/blob_store.h"

namespace repo {

class TreeSearch {
 public:
  // Called for each match, in depth-first name order (parents before children). `path` is
  // absolute in the snapshot. `node` has its content and subtree lists cleared (they are not
  // kept in the cache); its other fields are as stored.
  using MatchVisitor = std::function<void(const std::string& path, const Node& node)>;

  // `patterns` match as `--exclude` patterns do (repo/model/path_glob.h): one without '/'
  // matches a node's name, one with '/' its whole absolute path ('*' may cross '/').
  // REQUIRES: `store` outlives the search.
  TreeSearch(BlobStore& store, std::vector<std::string> patterns);
  ~TreeSearch();

  // Visits every node under the root tree `root` that matches any pattern. Stops at the first
  // error (a tree blob that cannot be read or decoded).
  Status Search(const std::vector<Id>& root, const MatchVisitor& visit);

  // Directories loaded and decoded so far (each distinct one once), for tests and -v output.
  uint64_t dirs_loaded() const { return dirs_loaded_; }

 private:
  struct DirMatches;
  Result<std::shared_ptr<const DirMatches>> Match(const std::vector<Id>& tree,
                                                  const std::string& dir_path);
  void Emit(const DirMatches& m, const std::string& dir_path, const MatchVisitor& visit) const;

  BlobStore& store_;
  std::vector<std::string> patterns_;
  bool path_patterns_ = false;  // some pattern contains '/': results depend on the path
  // Key: the directory's tree blob ids, then (with path patterns) its path.
  std::unordered_map<std::string, std::shared_ptr<const DirMatches>> memo_;
  uint64_t dirs_loaded_ = 0;
};

}  // namespace repo
