#include "fuse/snapshot_fs.h"

#include <unistd.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "repo/model/tree_io.h"

namespace repo::mount {
namespace {

// The listing reader's name in messages; the caller adds the directory's path.
const char kListing[] = "its listing";

timespec Time(int64_t ns) {
  timespec t;
  t.tv_sec = static_cast<time_t>(ns >= 0 ? ns / 1000000000 : (ns + 1) / 1000000000 - 1);
  t.tv_nsec = static_cast<long>(ns - int64_t{t.tv_sec} * 1000000000);
  return t;
}

mode_t TypeBits(NodeType t) {
  switch (t) {
    case NodeType::kDir:
      return S_IFDIR;
    case NodeType::kSymlink:
      return S_IFLNK;
    case NodeType::kFifo:
      return S_IFIFO;
    case NodeType::kCharDevice:
      return S_IFCHR;
    case NodeType::kBlockDevice:
      return S_IFBLK;
    case NodeType::kSocket:
      return S_IFSOCK;
    case NodeType::kFile:
      break;
  }
  return S_IFREG;
}

// The inode number shown for the files of one hardlink group in one snapshot directory: equal for
// all of them (cp -a, tar and rsync -H link them again), with the top bit set so that it is no
// mount inode number (those stay far below 2^63).
uint64_t HardlinkIno(uint64_t snapshot, const Node& n) {
  uint64_t h = snapshot * 0x9e3779b97f4a7c15ull ^ n.device;
  h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ull ^ n.inode;
  h = (h ^ (h >> 29)) * 0x94d049bb133111ebull;
  return (h ^ (h >> 32)) | (uint64_t{1} << 63);
}

}  // namespace

// A stored directory's entries, streamed from its listing.
class TreeDirStream final : public DirStream {
 public:
  TreeDirStream(SnapshotFs& fs, uint64_t dir, uint64_t snapshot, std::vector<Id> root)
      : fs_(fs), dir_(dir), snapshot_(snapshot), reader_(fs.store_, std::move(root), kListing) {}

  Result<bool> Next(std::string* name, FsEntry* entry) override {
    Node n;
    auto more = reader_.Next(&n);
    if (!more.ok()) return more.status().WithContext(fs_.PathOf(dir_));
    if (!*more) return false;
    const uint64_t ino = fs_.inodes_.Ino(dir_, snapshot_, reader_.place());
    *entry = SnapshotFs::StoredEntry(ino, snapshot_, n);
    *name = std::move(n.name);
    return true;
  }

 private:
  SnapshotFs& fs_;
  const uint64_t dir_, snapshot_;
  ListingReader reader_;
};

// A directory of the layout's, listed when opened.
class VirtualDirStream final : public DirStream {
 public:
  explicit VirtualDirStream(std::vector<std::pair<std::string, FsEntry>> entries)
      : entries_(std::move(entries)) {}

  Result<bool> Next(std::string* name, FsEntry* entry) override {
    if (next_ >= entries_.size()) return false;
    *name = entries_[next_].first;
    *entry = entries_[next_].second;
    ++next_;
    return true;
  }

 private:
  std::vector<std::pair<std::string, FsEntry>> entries_;
  size_t next_ = 0;
};

Result<std::unique_ptr<SnapshotFs>> SnapshotFs::Open(Repository& repo, const FsOptions& options) {
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  return std::unique_ptr<SnapshotFs>(new SnapshotFs(repo, *store, options));
}

SnapshotFs::SnapshotFs(Repository& repo, BlobStore& store, const FsOptions& options)
    : repo_(repo),
      store_(store),
      options_(options),
      uid_(geteuid()),
      gid_(getegid()),
      layout_(repo, options.refresh_after),
      inodes_(store),
      cache_(repo, options.cache_bytes,
             options.prefetch_threads > 0
                 ? options.prefetch_threads
                 : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}

FsEntry SnapshotFs::StoredEntry(uint64_t ino, uint64_t snapshot, const Node& n) {
  FsEntry e;
  e.ino = ino;
  e.stored = true;
  struct stat& st = e.attr;
  st.st_ino = n.type != NodeType::kDir && n.nlink > 1 ? HardlinkIno(snapshot, n) : ino;
  st.st_mode = TypeBits(n.type) | (n.mode & 07777);
  st.st_nlink = std::max<uint32_t>(1, n.nlink);
  st.st_uid = n.uid;
  st.st_gid = n.gid;
  st.st_rdev = static_cast<dev_t>(n.rdev);
  st.st_blksize = 128 << 10;
  if (n.type == NodeType::kFile) {
    st.st_size = static_cast<off_t>(n.size);
    // Blocks a restore would allocate: the data runs, not the holes (known for a file whose
    // runs are in its node; a content list is not read for a stat).
    uint64_t data = n.size;
    if (!n.content.list) {
      data = 0;
      for (const ContentRun& r : n.content.runs) data += r.hole ? 0 : r.length;
    }
    st.st_blocks = static_cast<blkcnt_t>((data + 511) / 512);
  } else if (n.type == NodeType::kSymlink) {
    st.st_size = static_cast<off_t>(n.link_target.size());
  }
  st.st_mtim = Time(n.mtime_ns);
  st.st_atim = st.st_mtim;
  st.st_ctim = Time(n.ctime_ns);
  return e;
}

FsEntry SnapshotFs::VirtualEntry(uint64_t ino, const VirtualNode& n) {
  FsEntry e;
  e.ino = ino;
  struct stat& st = e.attr;
  st.st_ino = ino;
  st.st_uid = uid_;
  st.st_gid = gid_;
  st.st_blksize = 128 << 10;
  if (n.kind == VirtualKind::kLatest) {
    st.st_mode = S_IFLNK | 0777;
    st.st_nlink = 1;
    auto target = layout_.LatestTarget(ino);
    st.st_size = target.ok() ? static_cast<off_t>(target->size()) : 0;
  } else {
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
  }
  st.st_mtim = Time(n.time_ns);
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  return e;
}

Result<TreeInodes::NodeRef> SnapshotFs::Stored(uint64_t ino) {
  auto ref = inodes_.Get(ino);
  if (!ref.ok() && !ref.status().IsNotFound()) return ref.status().WithContext(PathOf(ino));
  return ref;
}

Result<std::optional<SnapshotFs::Listing>> SnapshotFs::ListingOf(uint64_t ino) {
  if (!TreeInodes::IsStored(ino)) {
    ASSIGN_OR_RETURN(VirtualNode n, layout_.Get(ino));
    if (n.kind == VirtualKind::kSnapshot) {
      return std::optional<Listing>(Listing{std::move(n.tree), ino});
    }
    if (n.is_dir()) return std::optional<Listing>();
    return Status::InvalidArgument(PathOf(ino) + ": not a directory");
  }
  ASSIGN_OR_RETURN(TreeInodes::NodeRef ref, Stored(ino));
  if (ref.node().type != NodeType::kDir) {
    return Status::InvalidArgument(PathOf(ino) + ": not a directory");
  }
  return std::optional<Listing>(Listing{ref.node().subtree, ref.snapshot});
}

Result<FsEntry> SnapshotFs::Lookup(uint64_t parent, const std::string& name) {
  ASSIGN_OR_RETURN(std::optional<Listing> listing, ListingOf(parent));
  if (!listing) {
    ASSIGN_OR_RETURN(uint64_t ino, layout_.Lookup(parent, name));
    ASSIGN_OR_RETURN(VirtualNode n, layout_.Get(ino));
    return VirtualEntry(ino, n);
  }
  ListingReader reader(store_, std::move(listing->root), kListing);
  Node n;
  Status s = reader.Seek(name);
  Result<bool> found = s.ok() ? reader.Next(&n) : Result<bool>(s);
  if (!found.ok()) return found.status().WithContext(PathOf(parent));
  if (!*found || n.name != name) return Status::NotFound(name + ": no such entry");
  const uint64_t ino = inodes_.Ino(parent, listing->snapshot, reader.place());
  return StoredEntry(ino, listing->snapshot, n);
}

Result<FsEntry> SnapshotFs::GetAttr(uint64_t ino) {
  if (!TreeInodes::IsStored(ino)) {
    ASSIGN_OR_RETURN(VirtualNode n, layout_.Get(ino));
    return VirtualEntry(ino, n);
  }
  ASSIGN_OR_RETURN(TreeInodes::NodeRef ref, Stored(ino));
  return StoredEntry(ino, ref.snapshot, ref.node());
}

Result<std::string> SnapshotFs::ReadLink(uint64_t ino) {
  if (!TreeInodes::IsStored(ino)) return layout_.LatestTarget(ino);
  ASSIGN_OR_RETURN(TreeInodes::NodeRef ref, Stored(ino));
  if (ref.node().type != NodeType::kSymlink) {
    return Status::InvalidArgument(PathOf(ino) + ": not a symlink");
  }
  return ref.node().link_target;
}

Result<std::vector<std::pair<std::string, std::string>>> SnapshotFs::Xattrs(uint64_t ino) {
  if (!TreeInodes::IsStored(ino)) {
    RETURN_IF_ERROR(layout_.Get(ino).status());
    return std::vector<std::pair<std::string, std::string>>{};
  }
  ASSIGN_OR_RETURN(TreeInodes::NodeRef ref, Stored(ino));
  return ref.node().xattrs;
}

Result<std::unique_ptr<DirStream>> SnapshotFs::OpenDir(uint64_t ino) {
  ASSIGN_OR_RETURN(std::optional<Listing> listing, ListingOf(ino));
  if (listing) {
    return std::unique_ptr<DirStream>(
        new TreeDirStream(*this, ino, listing->snapshot, std::move(listing->root)));
  }
  ASSIGN_OR_RETURN(auto children, layout_.List(ino));
  std::vector<std::pair<std::string, FsEntry>> entries;
  entries.reserve(children.size());
  for (auto& [name, child] : children) {
    ASSIGN_OR_RETURN(VirtualNode n, layout_.Get(child));
    entries.emplace_back(std::move(name), VirtualEntry(child, n));
  }
  return std::unique_ptr<DirStream>(new VirtualDirStream(std::move(entries)));
}

Result<std::unique_ptr<SnapshotFile>> SnapshotFs::OpenFile(uint64_t ino) {
  if (!TreeInodes::IsStored(ino)) {
    return Status::InvalidArgument(PathOf(ino) + ": not a regular file");
  }
  ASSIGN_OR_RETURN(TreeInodes::NodeRef ref, Stored(ino));
  const std::string path = PathOf(ino);
  if (ref.node().type != NodeType::kFile) {
    return Status::InvalidArgument(path + ": not a regular file");
  }
  // Readahead beyond a quarter of the cache would push out what it fetched before its reader
  // gets there, once a few readers read at once.
  const uint64_t readahead = std::min(options_.readahead, options_.cache_bytes / 4);
  return std::make_unique<SnapshotFile>(store_, cache_, ref.node(), path, readahead);
}

std::string SnapshotFs::PathOf(uint64_t ino) {
  if (ino == kRootIno) return "/";
  std::string name;
  uint64_t parent;
  if (!TreeInodes::IsStored(ino)) {
    auto n = layout_.Get(ino);
    if (!n.ok()) return "(inode " + std::to_string(ino) + ")";
    name = n->name;
    parent = n->parent;
  } else {
    auto ref = inodes_.Get(ino);
    if (ref.ok()) {
      name = ref->node().name;
      parent = ref->dir;
    } else {  // its leaf does not read: its directory, and its place there
      parent = inodes_.DirOf(ino);
      if (parent == 0) return "(inode " + std::to_string(ino) + ")";
      name = "(entry " + std::to_string(ino & ((uint64_t{1} << TreeInodes::kIndexBits) - 1)) + ")";
    }
  }
  const std::string up = PathOf(parent);
  return (up == "/" ? "" : up) + "/" + name;
}

}  // namespace repo::mount
