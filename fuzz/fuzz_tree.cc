// Fuzzes the plaintext decoders of snapshot metadata: tree listings (repo/model/tree.h DecodeTree)
// and snapshot records (repo/model/snapshot.h DecodeSnapshotPayload). Both arrive inside
// authenticated blobs/objects, so the fuzz input is the plaintext itself.
//
// Input: mode byte, then by mode % 2:
//   0 tree:      a tree listing.
//   1 snapshot:  a snapshot payload.
//
// Invariants (abort on violation): no crash, no unbounded allocation; the encodings are
// canonical, so whatever decodes re-encodes to exactly the input bytes.
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_common.h"
#include "repo/model/snapshot.h"
#include "repo/model/tree.h"

namespace {

using repo::Bytes;
using repo::ByteSpan;

void FuzzTree(ByteSpan in) {
  auto nodes = repo::DecodeTree(in, "fuzz");
  if (!nodes.ok()) return;
  auto again = repo::EncodeTree(*nodes);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(Bytes(in.begin(), in.end()) == *again);
}

void FuzzSnapshot(ByteSpan in) {
  auto snap = repo::DecodeSnapshotPayload(in, "fuzz");
  if (!snap.ok()) return;
  FUZZ_CHECK(Bytes(in.begin(), in.end()) == repo::EncodeSnapshotPayload(*snap));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan in(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    FuzzTree(in);
  } else {
    FuzzSnapshot(in);
  }
  return 0;
}

// Seeds: a listing with every node kind, content runs, holes, xattrs and a split subtree; an
// empty listing; snapshot records with and without parent/original.
std::vector<Bytes> FuzzSeeds() {
  repo::Id a, b;
  a.data()[0] = 1;
  b.data()[0] = 2;
  std::vector<repo::Node> nodes;
  const repo::NodeType types[] = {repo::NodeType::kBlockDevice, repo::NodeType::kCharDevice,
                                  repo::NodeType::kDir,         repo::NodeType::kFifo,
                                  repo::NodeType::kFile,        repo::NodeType::kSocket,
                                  repo::NodeType::kSymlink};
  for (int i = 0; i < 7; ++i) {
    repo::Node n;
    n.type = types[i];
    n.name = std::string("n") + char('a' + i);
    n.mode = 0644;
    n.uid = 1000;
    n.user = "user";
    n.mtime_ns = 1700000000123456789;
    if (n.type == repo::NodeType::kFile) {
      n.size = 100;
      n.content = {{a, 60, false}, {repo::Id(), 40, true}};
      n.xattrs = {{"user.a", "1"}, {"user.b", std::string("\0\1", 2)}};
      n.nlink = 2;
    }
    if (n.type == repo::NodeType::kDir) n.subtree = {a, b};
    if (n.type == repo::NodeType::kSymlink) n.link_target = "../x";
    if (n.type == repo::NodeType::kCharDevice) n.rdev = 0x0103;
    nodes.push_back(n);
  }
  std::vector<Bytes> seeds;
  seeds.push_back(repo::fuzz::WithMode(0, *repo::EncodeTree(nodes)));
  seeds.push_back(repo::fuzz::WithMode(0, *repo::EncodeTree({})));

  repo::Snapshot s;
  s.time_ns = 1700000000000000000;
  s.hostname = "host";
  s.username = "root";
  s.paths = {"/etc", "/srv/app"};
  s.tags = {"nightly"};
  s.tree = {a};
  s.program_version = "0.1.0";
  s.summary.files_new = 3;
  s.summary.duration_ns = 12345;
  seeds.push_back(repo::fuzz::WithMode(1, repo::EncodeSnapshotPayload(s)));
  s.parent = b;
  s.original = a;
  s.tree = {a, b};
  seeds.push_back(repo::fuzz::WithMode(1, repo::EncodeSnapshotPayload(s)));
  return seeds;
}
