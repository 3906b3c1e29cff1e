#include "repo/restorer/restore_plan.h"

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

struct RestoreWalk::Frame {
  ListingReader listing;
  std::string path;  // in the snapshot ("" for the root)
  Node node;         // the directory's own node (not for the root)
};

RestoreWalk::RestoreWalk(BlobStore& store, const std::vector<Id>& root_tree,
                         const RestoreOptions& options)
    : store_(store), options_(options) {
  stack_.push_back(Frame{ListingReader(store, root_tree, "tree of /"), "", Node()});
}

RestoreWalk::~RestoreWalk() = default;

void RestoreWalk::CreateAncestors() {
  for (; created_ < stack_.size(); ++created_) {
    const Frame& f = stack_[created_];
    queued_.push_back(RestoreStep{RestoreStep::Kind::kDir, options_.target + f.path, f.node, ""});
  }
}

Result<bool> RestoreWalk::Next(RestoreStep* step) {
  for (;;) {
    if (!queued_.empty()) {
      *step = std::move(queued_.front());
      queued_.pop_front();
      return true;
    }
    if (stack_.empty()) return false;
    Frame& top = stack_.back();
    Node n;
    ASSIGN_OR_RETURN(bool more, top.listing.Next(&n));
    if (!more) {
      if (created_ == stack_.size() && stack_.size() > 1) {
        queued_.push_back(RestoreStep{RestoreStep::Kind::kDirDone, options_.target + top.path,
                                      std::move(top.node), ""});
        --created_;
      }
      stack_.pop_back();
      continue;
    }
    std::string path = top.path + "/" + n.name;
    bool descend_only = false;
    if (!RestoreSelectsImpl(options_, path, n.type == NodeType::kDir, &descend_only)) continue;
    if (n.type == NodeType::kDir) {
      const std::string what = "tree of " + path;
      ListingReader listing(store_, n.subtree, what);
      stack_.push_back(Frame{std::move(listing), std::move(path), std::move(n)});
      if (!descend_only) CreateAncestors();
      continue;
    }
    CreateAncestors();
    RestoreStep s;
    s.path = options_.target + path;
    if (n.type != NodeType::kFile) {
      s.kind = RestoreStep::Kind::kOther;
    } else if (n.nlink <= 1) {
      s.kind = RestoreStep::Kind::kFile;
    } else if (auto [it, first] = first_link_.emplace(std::make_pair(n.device, n.inode), s.path);
               first) {
      s.kind = RestoreStep::Kind::kFile;
    } else {
      s.kind = RestoreStep::Kind::kLink;
      s.link_to = it->second;
    }
    s.node = std::move(n);
    queued_.push_back(std::move(s));
  }
}

}  // namespace repo
