// Fuzzes the plaintext decoders of snapshot metadata: tree blobs of version 2 (repo/model/
// tree_blob.h DecodeTreeBlob, both kinds), version 1 listings (repo/model/tree.h DecodeTreeV1),
// snapshot records (repo/model/snapshot.h DecodeSnapshotPayload) and session records
// (repo/store/session.h DecodeSessionPayload). All arrive inside authenticated blobs/objects, so
// the fuzz input is the plaintext itself.
//
// Input: mode byte, then by mode % 5:
//   0 tree v1:       a version 1 listing (format 1).
//   1 snapshot:      a snapshot payload.
//   2 listing blob:  a version 2 tree blob of a directory listing (leaf or inner).
//   3 content blob:  a version 2 tree blob of a content list (leaf or inner).
//   4 session:       a session record's payload.
//
// Invariants (abort on violation): no crash, no unbounded allocation; the encodings are
// canonical, so whatever decodes re-encodes to exactly the input bytes.
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_common.h"
#include "repo/model/snapshot.h"
#include "repo/model/tree.h"
#include "repo/model/tree_blob.h"
#include "repo/store/session.h"

namespace {

using repo::Bytes;
using repo::ByteSpan;

void FuzzTreeV1(ByteSpan in) {
  auto nodes = repo::DecodeTreeV1(in, "fuzz");
  if (!nodes.ok()) return;
  auto again = repo::EncodeTreeV1(*nodes);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(Bytes(in.begin(), in.end()) == *again);
}

void FuzzTreeBlob(ByteSpan in, repo::TreeBlobKind kind) {
  auto blob = repo::DecodeTreeBlob(in, kind, "fuzz");
  if (!blob.ok()) return;
  auto again = repo::EncodeTreeBlob(*blob);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(Bytes(in.begin(), in.end()) == *again);
}

void FuzzSnapshot(ByteSpan in) {
  auto snap = repo::DecodeSnapshotPayload(in, "fuzz");
  if (!snap.ok()) return;
  FUZZ_CHECK(Bytes(in.begin(), in.end()) == repo::EncodeSnapshotPayload(*snap));
}

void FuzzSession(ByteSpan in) {
  auto session = repo::DecodeSessionPayload(in, "fuzz");
  if (!session.ok()) return;
  FUZZ_CHECK(Bytes(in.begin(), in.end()) == repo::EncodeSessionPayload(*session));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteSpan in(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      FuzzTreeV1(in);
      break;
    case 1:
      FuzzSnapshot(in);
      break;
    case 2:
      FuzzTreeBlob(in, repo::TreeBlobKind::kListing);
      break;
    case 3:
      FuzzTreeBlob(in, repo::TreeBlobKind::kContent);
      break;
    default:
      FuzzSession(in);
      break;
  }
  return 0;
}

// Seeds: version 1 and version 2 listings with every node kind, content runs, holes, xattrs, a
// content list and a subtree; an empty listing; content leaves and inner blobs of both kinds;
// snapshot records with and without parent/original; session records of both kinds.
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
      n.content.runs = {{a, 60, false}, {repo::Id(), 40, true}};
      n.xattrs = {{"user.a", "1"}, {"user.b", std::string("\0\1", 2)}};
      n.nlink = 2;
    }
    if (n.type == repo::NodeType::kDir) n.subtree = {a, b};
    if (n.type == repo::NodeType::kSymlink) n.link_target = "../x";
    if (n.type == repo::NodeType::kCharDevice) n.rdev = 0x0103;
    nodes.push_back(n);
  }
  std::vector<Bytes> seeds;
  seeds.push_back(repo::fuzz::WithMode(0, *repo::EncodeTreeV1(nodes)));
  seeds.push_back(repo::fuzz::WithMode(0, *repo::EncodeTreeV1({})));
  for (repo::Node& n : nodes) {
    if (n.type == repo::NodeType::kDir) n.subtree = {a};
  }
  nodes[4].content.runs.clear();  // the file: its runs in a content list
  nodes[4].content.list = b;
  repo::TreeBlob leaf;
  leaf.nodes = nodes;
  seeds.push_back(repo::fuzz::WithMode(2, *repo::EncodeTreeBlob(leaf)));
  seeds.push_back(repo::fuzz::WithMode(2, *repo::EncodeTreeBlob(repo::TreeBlob{})));
  repo::TreeBlob names;
  names.level = 1;
  names.children = {{a, 0, "a"}, {b, 0, "b\xff"}};
  seeds.push_back(repo::fuzz::WithMode(2, *repo::EncodeTreeBlob(names)));
  repo::TreeBlob runs;
  runs.kind = repo::TreeBlobKind::kContent;
  runs.runs = {{a, 60, false}, {repo::Id(), 1 << 20, true}, {b, 4096, false}};
  seeds.push_back(repo::fuzz::WithMode(3, *repo::EncodeTreeBlob(runs)));
  repo::TreeBlob offsets;
  offsets.kind = repo::TreeBlobKind::kContent;
  offsets.level = 3;
  offsets.children = {{a, 100, ""}, {b, 1ull << 40, ""}};
  seeds.push_back(repo::fuzz::WithMode(3, *repo::EncodeTreeBlob(offsets)));

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

  repo::SessionRecord r;
  r.session = a;
  r.kind = repo::SessionKind::kWriter;
  r.command = "snapshot";
  r.username = "postgres";
  r.process = {"db1", "3d1219c7c4c5404aaa1f6d2a48adfda4", "boot", 4026531836, 4242, 987654};
  r.started_ns = 1700000000000000000;
  r.refreshed_ns = r.started_ns + 300000000000;
  r.parents = {b};
  seeds.push_back(repo::fuzz::WithMode(4, repo::EncodeSessionPayload(r)));
  r.kind = repo::SessionKind::kMaintenance;
  r.command = "repair index";
  r.parents.clear();
  seeds.push_back(repo::fuzz::WithMode(4, repo::EncodeSessionPayload(r)));
  return seeds;
}
