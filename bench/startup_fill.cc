// startup_fill REPO PASSWORD_FILE CACHE_DIR INDEX_FILES SNAPSHOTS [ENTRIES_PER_FILE]
//
// Adds INDEX_FILES index files of ENTRIES_PER_FILE (default 1) synthetic entries each and
// SNAPSHOTS snapshot records to a
// local repository, as years of wal-push (an index file per WAL segment) and nightly snapshots
// leave them, for bench/startup_scale.sh (docs/perf.md, "Start-up"). The snapshot records are
// copies of the repository's newest snapshot (so they reach a real tree) with earlier times and
// host "startup-fill"; the index entries name blobs of packs that do not exist, which only a
// command reading those blobs would notice.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "repo/model/snapshot.h"
#include "repo/storage/local_backend.h"
#include "repo/store/index_file.h"
#include "repo/store/repository.h"

using namespace repo;

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr,
                 "usage: startup_fill REPO PASSWORD_FILE CACHE_DIR INDEX_FILES SNAPSHOTS "
                 "[ENTRIES_PER_FILE]\n");
    return 2;
  }
  std::ifstream pwf(argv[2]);
  std::string pw;
  std::getline(pwf, pw);
  const long index_files = std::atol(argv[4]), snapshots = std::atol(argv[5]);
  const long per_file = argc == 7 ? std::atol(argv[6]) : 1;
  auto backend = LocalBackend::Open(argv[1]);
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
    return 1;
  }
  auto repo =
      Repository::Open(std::move(backend).value(), SecretBytes::CopyOf(AsBytes(pw)), argv[3]);
  if (!repo.ok()) {
    std::fprintf(stderr, "%s\n", repo.status().ToString().c_str());
    return 1;
  }
  const MetadataStore metadata = (*repo)->metadata();
  std::mt19937_64 rng(15);
  auto random_id = [&] {
    Id id;
    for (size_t i = 0; i < Id::kSize; i += 8) {
      const uint64_t v = rng();
      for (size_t j = 0; j < 8; ++j) id.data()[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    return id;
  };
  std::vector<IndexEntry> entries;
  for (long i = 0; i < index_files; ++i) {
    entries.clear();
    IndexEntry e;
    e.loc.type = BlobType::kData;
    e.loc.length = 1000;
    e.loc.raw_length = 1000;
    for (long j = 0; j < per_file; ++j) {
      if (j % 16384 == 0) e.loc.pack = random_id();  // 16 MiB packs of ~1 KiB blobs
      e.blob = random_id();
      e.loc.offset = static_cast<uint32_t>(j % 16384 * 1000);
      entries.push_back(e);
    }
    auto written =
        metadata.Write(FileType::kIndex, EncodeIndexFile((*repo)->keys().enc_key, entries));
    if (!written.ok()) {
      std::fprintf(stderr, "%s\n", written.status().ToString().c_str());
      return 1;
    }
  }
  if (snapshots > 0) {
    auto all = ListSnapshots(**repo);
    if (!all.ok() || all->empty()) {
      std::fprintf(stderr, "startup_fill: the repository needs a snapshot to copy\n");
      return 1;
    }
    Snapshot s = all->back().snapshot;
    s.hostname = "startup-fill";
    for (long i = 0; i < snapshots; ++i) {
      s.time_ns -= 86400LL * 1000000000LL;  // a day earlier each
      auto written = WriteSnapshot(metadata, s);
      if (!written.ok()) {
        std::fprintf(stderr, "%s\n", written.status().ToString().c_str());
        return 1;
      }
    }
  }
  return 0;
}
