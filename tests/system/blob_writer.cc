// blob_writer REPO PASSWORD_FILE CACHE_DIR SEED COUNT BARRIER_DIR
//
// A second "process" for the concurrency test: opens the repository and its index cache, says
// it is ready, waits until every writer is ready (so that all hold the cache at once), stores
// COUNT deterministic 20 KiB blobs (the even-numbered ones are the same for every seed, to race
// on deduplication), flushes, and prints "primary" or "shared" and the blob ids.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "repo/storage/local_backend.h"
#include "repo/store/repository.h"

using namespace repo;

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: blob_writer REPO PASSWORD_FILE CACHE_DIR SEED COUNT BARRIER\n");
    return 2;
  }
  std::ifstream pwf(argv[2]);
  std::string pw;
  std::getline(pwf, pw);
  const int seed = std::atoi(argv[4]), count = std::atoi(argv[5]);
  const std::string barrier = argv[6];

  auto backend = LocalBackend::Open(argv[1]);
  if (!backend.ok()) return 1;
  auto repo =
      Repository::Open(std::move(backend).value(), SecretBytes::CopyOf(AsBytes(pw)), argv[3]);
  if (!repo.ok()) {
    std::fprintf(stderr, "%s\n", repo.status().ToString().c_str());
    return 1;
  }
  auto store = (*repo)->blobs();
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::ofstream(barrier + "/ready." + std::to_string(seed)).put('1');
  for (int waited = 0; waited < 3000; ++waited) {  // up to 30 s for the other writer
    int ready = 0;
    for (const auto& e : std::filesystem::directory_iterator(barrier)) {
      ready += e.path().filename().string().rfind("ready.", 0) == 0;
    }
    if (ready >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::cout << ((*repo)->index_cache_shared() ? "shared" : "primary") << "\n";
  for (int i = 0; i < count; ++i) {
    std::mt19937_64 rng(i % 2 == 0 ? i : seed * 1000003 + i);
    Bytes blob(20 << 10);
    for (auto& b : blob) b = static_cast<uint8_t>(rng());
    auto put = (*store)->Put(BlobType::kData, blob);
    if (!put.ok()) {
      std::fprintf(stderr, "%s\n", put.status().ToString().c_str());
      return 1;
    }
    std::cout << put->id.Hex() << "\n";
  }
  Status s = (*store)->Flush();
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
