#include "repo/query/snapshot_diff.h"

#include "repo/model/tree_io.h"

namespace repo {

char ChangeModifier(ChangeKind k) {
  switch (k) {
    case ChangeKind::kAdded:
      return '+';
    case ChangeKind::kRemoved:
      return '-';
    case ChangeKind::kModified:
      return 'M';
    case ChangeKind::kMetadata:
      return 'U';
    case ChangeKind::kType:
      return 'T';
  }
  return '?';
}

namespace {

// Whether files `a` and `b` hold the same runs. Their encodings are equal if they do, except
// across the format boundary: format 1 held every run inline where format 2 lists more than
// kMaxInlineRuns, so such a pair is compared run by run.
Result<bool> SameContent(BlobStore& store, const Node& a, const Node& b, const std::string& path) {
  if (a.size != b.size) return false;
  if (a.content == b.content) return true;
  const bool a_long = a.content.runs.size() > kMaxInlineRuns;
  const bool b_long = b.content.runs.size() > kMaxInlineRuns;
  if (!(a_long && b.content.list) && !(b_long && a.content.list)) return false;
  ContentReader ra(store, a, path), rb(store, b, path);
  for (ContentRun x, y;;) {
    ASSIGN_OR_RETURN(bool more_a, ra.Next(&x));
    ASSIGN_OR_RETURN(bool more_b, rb.Next(&y));
    if (more_a != more_b) return false;
    if (!more_a) return true;
    if (!(x == y)) return false;
  }
}

// `same_content`: for files, whether SameContent holds.
std::vector<std::string> Differences(const Node& a, const Node& b, bool same_content) {
  std::vector<std::string> what;
  if (a.type == NodeType::kFile && !same_content) what.push_back("content");
  if (a.mode != b.mode) what.push_back("mode");
  if (a.uid != b.uid || a.gid != b.gid || a.user != b.user || a.group != b.group) {
    what.push_back("owner");
  }
  if (a.mtime_ns != b.mtime_ns) what.push_back("mtime");
  if (a.xattrs != b.xattrs) what.push_back("xattrs");
  if (a.link_target != b.link_target) what.push_back("link_target");
  if (a.rdev != b.rdev) what.push_back("rdev");
  return what;
}

class Differ {
 public:
  Differ(BlobStore& store, const ChangeVisitor& visit, DiffStats* stats)
      : store_(store), visit_(visit), stats_(stats) {}

  // Both sides are directories with these listings.
  Status Dirs(const std::vector<Id>& a, const std::vector<Id>& b, const std::string& path) {
    if (a == b) return Status::OK();
    const std::string what = "tree of " + (path.empty() ? "/" : path);
    // A merge of the two listings, each read as a stream (a blob per level at a time).
    ListingReader left(store_, a, what), right(store_, b, what);
    Node l, r;
    ASSIGN_OR_RETURN(bool has_l, left.Next(&l));
    ASSIGN_OR_RETURN(bool has_r, right.Next(&r));
    while (has_l || has_r) {
      if (!has_r || (has_l && l.name < r.name)) {
        RETURN_IF_ERROR(Whole(l, path + "/" + l.name, ChangeKind::kRemoved));
        ASSIGN_OR_RETURN(has_l, left.Next(&l));
      } else if (!has_l || r.name < l.name) {
        RETURN_IF_ERROR(Whole(r, path + "/" + r.name, ChangeKind::kAdded));
        ASSIGN_OR_RETURN(has_r, right.Next(&r));
      } else {
        RETURN_IF_ERROR(Both(l, r, path + "/" + l.name));
        ASSIGN_OR_RETURN(has_l, left.Next(&l));
        ASSIGN_OR_RETURN(has_r, right.Next(&r));
      }
    }
    return Status::OK();
  }

 private:
  // The same name on both sides.
  Status Both(const Node& a, const Node& b, const std::string& path) {
    if (a.type != b.type) {
      Report(ChangeKind::kType, path, b, {"type"});
      if (stats_) {
        ++stats_->type_changed;
        if (a.type == NodeType::kFile) stats_->bytes_removed += a.size;
        if (b.type == NodeType::kFile) stats_->bytes_added += b.size;
      }
      // The old side's contents are gone and the new side's are new.
      RETURN_IF_ERROR(Below(a, path, ChangeKind::kRemoved));
      return Below(b, path, ChangeKind::kAdded);
    }
    bool same_content = true;
    if (a.type == NodeType::kFile) {
      ASSIGN_OR_RETURN(same_content, SameContent(store_, a, b, path));
    }
    std::vector<std::string> what = Differences(a, b, same_content);
    if (!what.empty()) {
      const bool content = what.front() == "content";
      Report(content ? ChangeKind::kModified : ChangeKind::kMetadata, path, b, std::move(what));
      if (stats_) {
        if (content) {
          ++stats_->modified;
          stats_->bytes_removed += a.size;
          stats_->bytes_added += b.size;
        } else {
          ++stats_->metadata;
        }
      }
    }
    if (a.type == NodeType::kDir) return Dirs(a.subtree, b.subtree, path);
    return Status::OK();
  }

  // `n` and, for a directory, everything below it, were added or removed.
  Status Whole(const Node& n, const std::string& path, ChangeKind kind) {
    Report(kind, path, n, {});
    Count(n, kind);
    return Below(n, path, kind);
  }

  // Everything below `n` (nothing unless it is a directory) was added or removed.
  Status Below(const Node& n, const std::string& path, ChangeKind kind) {
    if (n.type != NodeType::kDir) return Status::OK();
    return WalkTree(store_, n.subtree, [&](const std::string& sub, const Node& child) {
      Report(kind, path + sub, child, {});
      Count(child, kind);
      return Result<bool>(true);
    });
  }

  void Count(const Node& n, ChangeKind kind) {
    if (!stats_) return;
    DiffStats::Counts& c = kind == ChangeKind::kAdded ? stats_->added : stats_->removed;
    switch (n.type) {
      case NodeType::kFile:
        ++c.files;
        (kind == ChangeKind::kAdded ? stats_->bytes_added : stats_->bytes_removed) += n.size;
        break;
      case NodeType::kDir:
        ++c.dirs;
        break;
      default:
        ++c.others;
        break;
    }
  }

  void Report(ChangeKind kind, const std::string& path, const Node& n,
              std::vector<std::string> what) {
    if (!visit_) return;
    TreeChange c;
    c.kind = kind;
    c.path = path;
    c.type = n.type;
    c.what = std::move(what);
    visit_(c);
  }

  BlobStore& store_;
  const ChangeVisitor& visit_;
  DiffStats* stats_;
};

}  // namespace

Status DiffTrees(BlobStore& store, const std::vector<Id>& before, const std::vector<Id>& after,
                 const ChangeVisitor& visit, DiffStats* stats) {
  return Differ(store, visit, stats).Dirs(before, after, "");
}

}  // namespace repo
