// check_fill REPO PASSWORD_FILE CACHE_DIR MBLOBS [FILES]
//
// Fills a local repository with MBLOBS million real data blobs of 16 bytes each (distinct:
// a counter and a seed), stored through the blob store as a snapshot stores them (sealed, in
// packs, with index files), and one snapshot whose FILES files (default 1000) refer to all of
// them through content lists: a repository a structure check can walk end to end at 50 M blobs
// without 50 GB of data (bench/check_scale.sh, docs/perf.md "Check at 50 M blobs"). Two threads
// put blobs. Prints progress every 5 M blobs.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "repo/model/snapshot.h"
#include "repo/model/tree_io.h"
#include "repo/storage/local_backend.h"
#include "repo/store/repository.h"

using namespace repo;

namespace {

Bytes Plain(uint64_t i) {
  Bytes b(16);
  for (int j = 0; j < 8; ++j) b[j] = static_cast<uint8_t>(i >> (8 * j));
  for (int j = 8; j < 16; ++j) b[j] = static_cast<uint8_t>(0x5a ^ j);
  return b;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "check_fill: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: check_fill REPO PASSWORD_FILE CACHE_DIR MBLOBS [FILES]\n");
    return 2;
  }
  std::ifstream pwf(argv[2]);
  std::string pw;
  std::getline(pwf, pw);
  const uint64_t blobs = static_cast<uint64_t>(std::atof(argv[4]) * 1e6);
  const uint64_t files = argc == 6 ? std::strtoull(argv[5], nullptr, 10) : 1000;
  auto backend = LocalBackend::Open(argv[1]);
  if (!backend.ok()) return Fail(backend.status());
  auto repo =
      Repository::Open(std::move(backend).value(), SecretBytes::CopyOf(AsBytes(pw)), argv[3]);
  if (!repo.ok()) return Fail(repo.status());
  auto store = (*repo)->blobs();
  if (!store.ok()) return Fail(store.status());

  // The blobs, on two threads: the ids come back in order per file.
  const auto start = std::chrono::steady_clock::now();
  const uint64_t per_file = (blobs + files - 1) / files;
  std::vector<Node> nodes(files);
  std::vector<Status> failed(2);
  auto worker = [&](int t) {
    for (uint64_t f = static_cast<uint64_t>(t); f < files; f += 2) {
      ContentWriter content(**store);
      const uint64_t first = std::min(blobs, f * per_file);
      const uint64_t end = std::min(blobs, first + per_file);
      for (uint64_t i = first; i < end; ++i) {
        const Bytes plain = Plain(i);
        auto put = (*store)->Put(BlobType::kData, plain);
        Status s = put.ok() ? content.Add(ContentRun{put->id, plain.size(), false}) : put.status();
        if (!s.ok()) {
          failed[t] = s;
          return;
        }
        if (i % 5000000 == 0 && i > 0) {
          std::fprintf(
              stderr, "check_fill: %.0f M blobs, %.0f s\n", i / 1e6,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
      }
      Node& n = nodes[f];
      char name[32];
      std::snprintf(name, sizeof name, "f%06llu", static_cast<unsigned long long>(f));
      n.name = name;
      n.mode = 0644;
      n.size = (end - first) * 16;
      Status s = content.Finish(&n);
      if (!s.ok()) {
        failed[t] = s;
        return;
      }
    }
  };
  {
    std::jthread other(worker, 1);
    worker(0);
  }
  for (const Status& s : failed) {
    if (!s.ok()) return Fail(s);
  }
  auto tree = StoreTree(**store, nodes);
  if (!tree.ok()) return Fail(tree.status());
  Status flushed = (*store)->Flush();
  if (!flushed.ok()) return Fail(flushed);
  Snapshot snap;
  snap.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  snap.hostname = "check-fill";
  snap.paths = {"/check-fill"};
  snap.tree = tree->blobs;
  auto id = WriteSnapshot((*repo)->metadata(), snap);
  if (!id.ok()) return Fail(id.status());
  std::fprintf(stderr, "check_fill: %llu blobs in %llu files, snapshot %s, %.0f s\n",
               static_cast<unsigned long long>(blobs), static_cast<unsigned long long>(files),
               id->ShortHex().c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}
