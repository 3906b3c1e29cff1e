// repo ls SNAPSHOT [PATH] and repo dump SNAPSHOT PATH: look inside a snapshot.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/model/tree_io.h"
#include "repo/os/fd_io.h"
#include "repo/restorer/content_stream.h"

namespace repo::cli {

void LsOptionsSpec(cxxopts::Options& o) {
  AddFilterOptions(o);
  o.add_options("ls")("l,long", "long form: mode, owner, size, time")("recursive",
                                                                      "list everything below PATH");
}

namespace {

std::string NodeJson(const std::string& path, const Node& n) {
  JsonObject o;
  o.Str("path", path)
      .Str("name", n.name)
      .Str("type", NodeTypeName(n.type))
      .Int("mode", n.mode)
      .Int("uid", n.uid)
      .Int("gid", n.gid)
      .Str("user", n.user)
      .Str("group", n.group)
      .Int("size", static_cast<int64_t>(n.size))
      .Int("mtime_ns", n.mtime_ns)
      .Int("ctime_ns", n.ctime_ns)
      .Int("inode", static_cast<int64_t>(n.inode))
      .Int("nlink", n.nlink);
  if (n.type == NodeType::kSymlink) o.Str("link_target", n.link_target);
  return o.Build();
}

void PrintNode(const Context& ctx, const std::string& path, const Node& n) {
  if (ctx.global.json) {
    Print(NodeJson(path, n));
  } else if (ctx.args.count("long")) {
    Print(FormatNodeLong(path, n));
  } else {
    Print(path);
  }
}

}  // namespace

int RunLs(Context& ctx) {
  if (ctx.positional.empty() || ctx.positional.size() > 2) {
    return Fail(Status::InvalidArgument("usage: repo ls SNAPSHOT [PATH]"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto snap = LoadSnapshot(**repo, ctx.positional[0], FilterFromArgs(ctx.args));
  if (!snap.ok()) return Fail(snap.status());
  auto store = (*repo)->blobs();
  if (!store.ok()) return Fail(store.status());
  std::string base = ctx.positional.size() > 1 ? ctx.positional[1] : "/";
  if (base.empty() || base[0] != '/') base = "/" + base;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  auto node = FindNode(**store, snap->snapshot.tree, base);
  if (!node.ok()) return Fail(node.status());
  if (node->type != NodeType::kDir) {
    PrintNode(ctx, base, *node);
    return kExitOk;
  }
  const bool recursive = ctx.args.count("recursive") > 0;
  const std::string prefix = base == "/" ? "" : base;
  Status s = WalkTree(**store, node->subtree, [&](const std::string& path, const Node& n) {
    PrintNode(ctx, prefix + path, n);
    return Result<bool>(recursive);
  });
  return s.ok() ? kExitOk : Fail(s);
}

int RunDump(Context& ctx) {
  if (ctx.positional.size() != 2) {
    return Fail(Status::InvalidArgument("usage: repo dump SNAPSHOT PATH"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto snap = LoadSnapshot(**repo, ctx.positional[0], {});
  if (!snap.ok()) return Fail(snap.status());
  auto store = (*repo)->blobs();
  if (!store.ok()) return Fail(store.status());
  std::string path = ctx.positional[1];
  if (path.empty() || path[0] != '/') path = "/" + path;
  auto node = FindNode(**store, snap->snapshot.tree, path);
  if (!node.ok()) return Fail(node.status());
  if (node->type != NodeType::kFile) {
    return Fail(Status::InvalidArgument(path + " is a " + std::string(NodeTypeName(node->type)) +
                                        ", not a file"));
  }
  bool output_failed = false;
  Status s = StreamContent(**repo, *node, [&](ByteSpan bytes) {
    Status w = WriteAll(STDOUT_FILENO, bytes, "writing to stdout");
    output_failed = !w.ok();
    return w;
  });
  if (!s.ok()) return Fail(output_failed ? s : s.WithContext(path));
  return kExitOk;
}

}  // namespace repo::cli
