#include "repo/query/tree_search.h"

#include <optional>

#include "repo/model/path_glob.h"
#include "repo/model/tree_io.h"

namespace repo {

// What matched in one directory, in name order: only the children that matched themselves or
// have matches below. A directory with no matches below is a null pointer.
struct TreeSearch::DirMatches {
  struct Item {
    std::string name;
    std::optional<Node> self;                 // the child itself matched
    std::shared_ptr<const DirMatches> below;  // matches inside the child (a directory)
  };
  std::vector<Item> items;
};

TreeSearch::TreeSearch(BlobStore& store, std::vector<std::string> patterns) : store_(store) {
  for (const std::string& p : patterns) {
    path_patterns_ = path_patterns_ || p.find('/') != std::string::npos;
  }
  patterns_ = std::move(patterns);
}

TreeSearch::~TreeSearch() = default;

Result<std::shared_ptr<const TreeSearch::DirMatches>> TreeSearch::Match(
    const std::vector<Id>& tree, const std::string& dir_path) {
  std::string key;
  key.reserve(tree.size() * Id::kSize + (path_patterns_ ? dir_path.size() + 1 : 0));
  for (const Id& id : tree) key.append(reinterpret_cast<const char*>(id.data()), Id::kSize);
  if (path_patterns_) key += '/' + dir_path;
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;

  ListingReader listing(store_, tree, "tree of " + (dir_path.empty() ? "/" : dir_path));
  ++dirs_loaded_;
  auto out = std::make_shared<DirMatches>();
  for (Node n;;) {
    ASSIGN_OR_RETURN(bool more, listing.Next(&n));
    if (!more) break;
    const std::string path = dir_path + "/" + n.name;
    DirMatches::Item item;
    item.name = n.name;
    if (n.type == NodeType::kDir) {
      ASSIGN_OR_RETURN(item.below, Match(n.subtree, path));
    }
    if (AnyPathGlobMatches(patterns_, path)) {
      n.content = {};
      n.subtree.clear();
      n.subtree.shrink_to_fit();
      item.self = std::move(n);
    }
    if (item.self || item.below) out->items.push_back(std::move(item));
  }
  std::shared_ptr<const DirMatches> result;
  if (!out->items.empty()) result = std::move(out);
  memo_.emplace(std::move(key), result);
  return result;
}

void TreeSearch::Emit(const DirMatches& m, const std::string& dir_path,
                      const MatchVisitor& visit) const {
  for (const DirMatches::Item& item : m.items) {
    const std::string path = dir_path + "/" + item.name;
    if (item.self) visit(path, *item.self);
    if (item.below) Emit(*item.below, path, visit);
  }
}

Status TreeSearch::Search(const std::vector<Id>& root, const MatchVisitor& visit) {
  ASSIGN_OR_RETURN(std::shared_ptr<const DirMatches> m, Match(root, ""));
  if (m) Emit(*m, "", visit);
  return Status::OK();
}

}  // namespace repo
