// A directory's names in bytewise order, for the walk of a snapshot and its totals scan, in
// memory bounded whatever the directory's size (issue 15: a 1 M-entry directory is not held).
//
// getdents gives names unsorted and trees store them sorted, so the whole directory is read when
// the listing opens. Names are packed into one buffer and sorted a run at a time; a directory
// whose names fill more than one run spills each sorted run to an unnamed temporary file in
// $TMPDIR, else /tmp (OpenUnnamedTempFile), and the runs are merged as the names are taken, with
// one 16 KiB read buffer per run (an external sort, as sort(1) does). A directory of under
// ~140,000 names of 24 bytes (~16,000 of 255) fits one run and never touches a file. Memory:
// the run being filled (4 MiB) while listing, then the sorted names of a directory that fit one
// run, or 16 KiB per spilled run (0.4% of the names' size). A spilled listing holds one more fd
// while it is open. Where $TMPDIR is a tmpfs, the spilled names are in RAM all the same (not in
// the process's RSS): set TMPDIR to a disk for directories of many millions of entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "repo/archiver/exclude_rules.h"

namespace repo {

// Bytes of names (plus 4 per name) a listing sorts in memory before it spills a run.
inline constexpr size_t kDirListingRunBytes = 4 << 20;

class DirListing {
 public:
  // Lists the directory `dirfd` (whose full path is `path`): its names without "." and ".." and
  // without those IsExcluded(rules, JoinPath(path, name), name) leaves out. A duplicate of
  // `dirfd` is read, so `dirfd` stays open for the *at() calls on the entries; the duplicate
  // shares its position, which the listing leaves at the end: list an open directory once.
  // Errors say "cannot read directory <path>": opening the listing (no fd left, or `dirfd` is
  // not a directory), or reading a spilled run back. A run that cannot be spilled (no temporary
  // file, no space, no fd) is not an error: the names stay in memory and warning() says so. An
  // error while reading (getdents failing, e.g. EIO, or EBADF on an O_PATH fd) is not reported:
  // it ends the listing as the end would.
  // REQUIRES: `dirfd` not listed before (kWalkDirFlags opens a directory for listing);
  // 0 < run_bytes < 4 GiB (tests make it small to spill many runs).
  static Result<std::unique_ptr<DirListing>> Open(int dirfd, const std::string& path,
                                                  const ExcludeRules& rules,
                                                  size_t run_bytes = kDirListingRunBytes);
  ~DirListing();
  DirListing(const DirListing&) = delete;
  DirListing& operator=(const DirListing&) = delete;

  // How many names the listing gives in all.
  uint64_t size() const;

  // Empty, or why the names were sorted in memory rather than spilled (one line naming the
  // directory and what to do), for the caller to pass on as a warning.
  const std::string& warning() const;

  // The next name in bytewise order, or false at the end. `name` is valid until the next call.
  // Errors (reading a spilled run back) say "cannot read directory <path>"; after one, the
  // listing gives nothing more.
  Result<bool> Next(std::string_view* name);

 private:
  class Impl;
  explicit DirListing(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace repo
