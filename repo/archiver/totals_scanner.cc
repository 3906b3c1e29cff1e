#include "repo/archiver/totals_scanner.h"

#include <sys/stat.h>
#include <unistd.h>

#include "repo/archiver/dir_listing.h"
#include "repo/archiver/walk_dir.h"
#include "repo/os/path_resolver.h"

namespace repo {
namespace {

// Counts files and bytes under `at` (full path `path`), `levels` directories deep at most.
void ScanEntry(AtPath at, const std::string& path, const ExcludeRules& rules, dev_t root_dev,
               ArchiverProgress* progress, uint64_t levels) {
  struct stat st;
  if (fstatat(at.dir, at.name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISREG(st.st_mode)) {
    if (rules.exclude_larger_than && uint64_t(st.st_size) > rules.exclude_larger_than) return;
    progress->total_files++;
    progress->total_bytes += static_cast<uint64_t>(st.st_size);
    return;
  }
  if (!S_ISDIR(st.st_mode) || levels == 0) return;
  if (rules.one_file_system && st.st_dev != root_dev) return;
  int fd = openat(at.dir, at.name, kWalkDirFlags);
  if (fd < 0) return;
  if (!(rules.exclude_caches && IsCacheDir(fd))) {
    auto names = DirListing::Open(fd, path, rules);
    std::string_view next;
    auto more = [&] {  // the totals are an estimate: a failed listing ends it
      auto r = (*names)->Next(&next);
      return r.ok() && *r;
    };
    while (names.ok() && more()) {
      const std::string n(next);
      ScanEntry(AtPath{fd, n.c_str()}, JoinPath(path, n), rules, root_dev, progress, levels - 1);
    }
  }
  close(fd);
}

}  // namespace

void ScanTotals(const std::vector<std::string>& paths, const ExcludeRules& rules,
                ArchiverProgress* progress) {
  const uint64_t levels = WalkDepthLimit().levels;
  PathResolver resolver;
  for (const std::string& p : paths) {
    struct stat st;
    auto at = resolver.Resolve(p);
    if (at.ok() && fstatat(at->dir, at->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      ScanEntry(*at, p, rules, st.st_dev, progress, levels);
    }
  }
  progress->scan_done = true;
}

}  // namespace repo
