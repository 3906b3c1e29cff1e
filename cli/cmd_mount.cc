// repo mount MOUNTPOINT: every snapshot as a read-only filesystem (fuse/), until unmounted.
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "fuse/fuse_mount.h"

namespace repo::cli {

void MountOptionsSpec(cxxopts::Options& o) {
  const mount::FsOptions d;
  o.add_options("mount")(
      "allow-other",
      "let other users in (unless root, needs user_allow_other in /etc/fuse.conf); the kernel "
      "then checks each file's mode and owner")(
      "f,foreground", "stay in the foreground (what repo mount always does)")(
      "chunk-cache", "memory for opened chunks, shared by all open files (e.g. 64M)",
      cxxopts::value<std::string>()->default_value(std::to_string(d.cache_bytes >> 20) + "M"))(
      "readahead", "how far ahead of a sequential reader chunks are fetched (0: not at all)",
      cxxopts::value<std::string>()->default_value(std::to_string(d.readahead >> 20) + "M"));
}

int RunMount(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return Fail(Status::InvalidArgument("usage: repo mount MOUNTPOINT"));
  }
  mount::MountOptions options;
  options.mountpoint = ctx.positional[0];
  options.allow_other = ctx.args.count("allow-other") > 0;
  auto cache = ParseSize(ctx.args["chunk-cache"].as<std::string>(), "chunk-cache");
  if (!cache.ok()) return Fail(cache.status());
  auto readahead = ParseSize(ctx.args["readahead"].as<std::string>(), "readahead");
  if (!readahead.ok()) return Fail(readahead.status());
  options.fs.cache_bytes = *cache;
  options.fs.readahead = *readahead;

  auto opened = OpenRepository(ctx.global);
  if (!opened.ok()) return FailOpen(opened.status());
  std::unique_ptr<Repository> repo = std::move(*opened);
  std::unique_ptr<mount::FuseMount> m;
  // Ctrl-C, systemd's stop (SIGTERM) and a hang-up unmount and end the command with 0, as
  // fusermount3 -u does; from before mounting, so that no signal leaves a mount behind. Of the
  // two stores and two loads below, one side sees the other's: a signal either finds the mount
  // or keeps it from serving. (Destroyed first: it waits for a handler running.)
  std::atomic<mount::FuseMount*> serving{nullptr};
  std::atomic<bool> interrupted{false};
  InterruptHandler on_signal([&] {
    interrupted = true;
    if (mount::FuseMount* p = serving.load()) p->Stop();
  });
  auto started = mount::FuseMount::Start(*repo, options);
  if (!started.ok()) return Fail(started.status());
  m = std::move(*started);
  serving = m.get();
  Status s;
  if (!interrupted) {
    if (ctx.global.verbosity >= 0) {
      std::fprintf(stderr,
                   "repo: snapshots of %s mounted read-only at %s; stop with Ctrl-C or "
                   "fusermount3 -u %s\n",
                   ctx.global.repo.c_str(), options.mountpoint.c_str(), options.mountpoint.c_str());
    }
    s = m->Serve();
  }
  const BlobCacheStats stats = m->fs().cache_stats();
  spdlog::info(
      "unmounted; read {} chunks ({}) from the repository ({} ahead of readers), {} "
      "from the chunk cache",
      stats.fetched, FormatBytes(stats.fetched_bytes), stats.prefetched, stats.hits);
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

}  // namespace repo::cli
