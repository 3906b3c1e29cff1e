// Regression driver for the fuzz targets in the normal (gcc, no libFuzzer) build, like zstd's
// tests/fuzz/regression_driver.c. Linked with one target's source as replay_<target>:
//
//   replay_<target> PATH...              runs LLVMFuzzerTestOneInput on every file given and on
//                                        every regular file in every directory given (sorted);
//                                        an invariant violation aborts, so ctest fails.
//   replay_<target> --write-seeds DIR    writes the target's generated seeds (FuzzSeeds(), defined
//                                        beside LLVMFuzzerTestOneInput) into DIR, each named by the
//                                        BLAKE2b-256 of its bytes (40 hex digits).
//
// An empty or missing directory is an error: a corpus that silently vanished would otherwise pass.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "crypto/hash.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Defined by each target: seed inputs in that target's input format.
std::vector<repo::Bytes> FuzzSeeds();

namespace {

namespace fs = std::filesystem;

bool ReadFile(const fs::path& path, repo::Bytes* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

bool RunFile(const fs::path& path) {
  repo::Bytes input;
  if (!ReadFile(path, &input)) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  // A heap copy of exactly the input's size, so that ASan (if enabled) catches overreads.
  uint8_t* copy = new uint8_t[input.size() + (input.empty() ? 1 : 0)];
  std::copy(input.begin(), input.end(), copy);
  LLVMFuzzerTestOneInput(copy, input.size());
  delete[] copy;
  return true;
}

int WriteSeeds(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "replay: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  int written = 0;
  for (const repo::Bytes& seed : FuzzSeeds()) {
    LLVMFuzzerTestOneInput(seed.data(), seed.size());  // a seed must itself pass the target
    const fs::path path = dir / repo::PlainHash(seed).Hex().substr(0, 40);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(seed.data()),
              static_cast<std::streamsize>(seed.size()));
    if (!out) {
      std::fprintf(stderr, "replay: cannot write %s\n", path.c_str());
      return 1;
    }
    ++written;
  }
  std::printf("wrote %d seeds to %s\n", written, dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-seeds") return WriteSeeds(argv[2]);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH... | --write-seeds DIR\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& e : fs::directory_iterator(arg, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      if (ec) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", arg.c_str(), ec.message().c_str());
        return 1;
      }
      if (files.empty()) {
        std::fprintf(stderr, "replay: %s holds no inputs\n", arg.c_str());
        return 1;
      }
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) {
        if (!RunFile(f)) return 1;
      }
      std::printf("replayed %zu inputs from %s\n", files.size(), arg.c_str());
    } else if (fs::is_regular_file(arg, ec)) {
      if (!RunFile(arg)) return 1;
      std::printf("replayed %s\n", arg.c_str());
    } else {
      std::fprintf(stderr, "replay: %s: no such file or directory\n", arg.c_str());
      return 1;
    }
  }
  return 0;
}
