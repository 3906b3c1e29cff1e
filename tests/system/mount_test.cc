// `repo mount` through the real kernel (/dev/fuse), as users recover one file or one table
// (USE-CASES.md jobs 4 and 5): a snapshot of a tree with every kind of file reads back through
// the mount identical to its source (diff -r, and lstat/readlink/getxattr of every entry:
// modes, owners, times, link counts and hardlink grouping, xattrs, sparse allocation); a
// snapshot taken after mounting shows up; SIGINT, SIGTERM and fusermount3 -u unmount and end
// the command with 0; bad mountpoints fail with one line; a read near the end of a 100 MiB file
// fetches only the chunks around it; pg_restore lists and restores a table straight from a
// custom-format dump inside the mount, against a real PostgreSQL.
//
// Needs root (mounts, files of other owners, the server as the postgres user) and /dev/fuse.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "fuse/fuse_mount.h"
#include "repo/storage/location.h"
#include "tests/support/fs_tree.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/random_tree.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::BackgroundProgram;
using test::CompareTrees;
using test::PgCluster;
using test::RandomTree;
using test::RepoCli;
using test::RunProgram;
using test::RunResult;
using test::SplitLines;
using test::TempDir;

// Whether something is mounted on `path` (its device differs from its parent's).
bool Mounted(const std::string& path) {
  struct stat st, up;
  if (stat(path.c_str(), &st) != 0) return errno == ENOTCONN;  // a mount without its process
  return stat((path + "/..").c_str(), &up) == 0 && st.st_dev != up.st_dev;
}

// Waits (up to 20 s) until `done` holds.
bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: mounts, and files of other owners";
    ASSERT_EQ(access("/dev/fuse", R_OK | W_OK), 0)
        << "/dev/fuse is missing: these tests mount for real (load the fuse module)";
    ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
    RunResult r = cli_.Init();
    ASSERT_EQ(r.exit_code, 0) << "repo init failed: " << r.err;
  }
  void TearDown() override {
    if (Mounted(mnt_)) RunProgram("/bin/fusermount3", {"-u", "-z", mnt_});
  }

  // `repo mount` of the test repository on mnt_, in the background; waits until it serves.
  std::unique_ptr<BackgroundProgram> StartMount() {
    auto m = std::make_unique<BackgroundProgram>(cli_.binary(), cli_.Args({"mount", mnt_}));
    EXPECT_TRUE(WaitFor([&] { return Mounted(mnt_); })) << "repo mount did not mount";
    return m;
  }

  std::string Snapshot(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"snapshot", "--json"};
    full.insert(full.end(), args.begin(), args.end());
    RunResult r = cli_.Run(full);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return RepoCli::Summary(r)["snapshot_id"].Str();
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
  const std::string mnt_ = dir_.Sub("mnt");
};

TEST_F(MountTest, ASnapshotReadsBackThroughTheMountIdenticalToItsSource) {
  const std::string src = dir_.Sub("src");
  try {
    RandomTree(src, 11).Build();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  Snapshot({src});
  auto mount = StartMount();
  const std::string mounted = mnt_ + "/snapshots/latest" + src;
  std::vector<std::string> diffs = CompareTrees(src, mounted);
  std::string all;
  for (const auto& d : diffs) all += "  " + d + "\n";
  EXPECT_TRUE(diffs.empty()) << "the mount differs from the source:\n" << all;

  // diff -r reads every file through the mount; it reports each pair of FIFOs (it cannot
  // compare them), and nothing else. (It cannot follow the branch deeper than PATH_MAX.)
  RunResult r =
      RunProgram("/usr/bin/diff", {"-r", "--no-dereference", "-x", "very_deep", src, mounted});
  for (const std::string& line : SplitLines(r.out)) {
    EXPECT_NE(line.find(" is a fifo while file "), std::string::npos) << line;
  }
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

TEST_F(MountTest, CpTarAndRsyncCopyTheMountedTreeAsTheSource) {
  const std::string src = dir_.Sub("src");
  try {
    RandomTree(src, 21, /*deep_branch=*/false).Build();  // cp -a cannot copy that branch
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  Snapshot({src});
  auto mount = StartMount();
  const std::string mounted = mnt_ + "/snapshots/latest" + src;
  const std::string by_tar = dir_.Sub("by_tar"), by_rsync = dir_.Sub("by_rsync");
  ASSERT_EQ(mkdir(by_tar.c_str(), 0755), 0);
  struct Copy {
    std::string tool, dest;
    RunResult run;
  };
  std::vector<Copy> copies = {
      {"cp -a", dir_.Sub("by_cp"), RunProgram("/bin/cp", {"-a", mounted, dir_.Sub("by_cp")})},
      {"tar", by_tar,
       RunProgram("/bin/bash", {"-c",
                                "set -o pipefail; tar --sparse --xattrs --xattrs-include='*' -C "
                                "\"$1\" -cf - . | tar --xattrs --xattrs-include='*' -C \"$2\" "
                                "-xpf -",
                                "bash", mounted, by_tar})},
      {"rsync -aHXS", by_rsync,
       RunProgram("/usr/bin/rsync", {"-aHXS", mounted + "/", by_rsync + "/"})},
  };
  for (const Copy& c : copies) {
    EXPECT_EQ(c.run.exit_code, 0) << c.tool << ": " << c.run.err;
    std::vector<std::string> diffs = CompareTrees(src, c.dest);
    std::string all;
    for (const auto& d : diffs) all += "  " + d + "\n";
    EXPECT_TRUE(diffs.empty()) << c.tool << " of the mount differs from the source:\n" << all;
  }
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

TEST_F(MountTest, AFileWhosePackIsGoneFailsWithEioAndALogLineAndNothingElseDoes) {
  ASSERT_EQ(mkdir(dir_.Sub("small").c_str(), 0755), 0);
  RepoCli small(REPO_BINARY, dir_.Sub("small"));
  ASSERT_EQ(
      small.Run({"init", "--kdf-memory-kib", "8", "--kdf-iterations", "1", "--pack-size", "1M"})
          .exit_code,
      0);
  const std::string lost = dir_.Sub("lost.bin"), kept = dir_.Sub("kept.txt");
  {
    std::ofstream out(lost, std::ios::binary);
    std::mt19937_64 rng(9);
    for (int i = 0; i < (3 << 20) / 8; ++i) {
      const uint64_t v = rng();
      out.write(reinterpret_cast<const char*>(&v), sizeof v);
    }
  }
  test::WriteFile(kept, "still here\n");
  RunResult snap = small.Run({"snapshot", "--json", lost});
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  const std::string lost_in = RepoCli::Summary(snap)["snapshot_id"].Str().substr(0, 8);
  const std::set<std::string> first = small.FilesIn("data");
  ASSERT_EQ(small.Run({"snapshot", kept}).exit_code, 0);
  // The oldest pack of the first snapshot holds part of lost.bin and nothing else: packs fill
  // with its chunks, and the listings go into the last.
  std::string oldest;
  struct timespec oldest_time {};
  for (const std::string& f : first) {
    struct stat st;
    ASSERT_EQ(stat((small.repo() + "/data/" + f).c_str(), &st), 0);
    if (oldest.empty() || st.st_mtim.tv_sec < oldest_time.tv_sec ||
        (st.st_mtim.tv_sec == oldest_time.tv_sec && st.st_mtim.tv_nsec < oldest_time.tv_nsec)) {
      oldest = f;
      oldest_time = st.st_mtim;
    }
  }
  ASSERT_GE(first.size(), 3u);
  ASSERT_EQ(unlink((small.repo() + "/data/" + oldest).c_str()), 0);

  const std::string log = dir_.Sub("mount.log");
  auto mount = std::make_unique<BackgroundProgram>(
      "/bin/sh", std::vector<std::string>{"-c", "exec \"$0\" \"$@\" 2>" + log, small.binary(), "-r",
                                          small.repo(), "--password-file", small.password_file(),
                                          "--cache-dir", small.cache_dir(), "mount", mnt_});
  ASSERT_TRUE(WaitFor([&] { return Mounted(mnt_); }));
  RunResult r = RunProgram("/bin/cat", {mnt_ + "/ids/" + lost_in + lost});
  EXPECT_NE(r.exit_code, 0) << "reading a file whose pack is gone succeeded";
  EXPECT_NE(r.err.find("Input/output error"), std::string::npos) << r.err;
  EXPECT_EQ(test::ReadFile(mnt_ + "/snapshots/latest" + kept), "still here\n");
  EXPECT_TRUE(Mounted(mnt_)) << "the mount went away";
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
  const std::string logged = test::ReadFile(log);
  EXPECT_NE(logged.find("lost.bin: content from offset "), std::string::npos) << logged;
}

TEST_F(MountTest, ASnapshotTakenAfterMountingShowsUp) {
  const std::string a = dir_.Sub("a"), b = dir_.Sub("b");
  ASSERT_EQ(mkdir(a.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(b.c_str(), 0755), 0);
  test::WriteFile(a + "/one", "first\n");
  test::WriteFile(b + "/two", "second\n");
  const std::string first = Snapshot({a, "--tag", "old"});
  auto mount = StartMount();
  EXPECT_EQ(test::ReadFile(mnt_ + "/snapshots/latest" + a + "/one"), "first\n");
  const std::string second = Snapshot({b, "--tag", "new"});
  ASSERT_TRUE(WaitFor([&] {
    return access((mnt_ + "/ids/" + second.substr(0, 8)).c_str(), F_OK) == 0;
  })) << "the new snapshot did not show up in ids/";
  EXPECT_TRUE(WaitFor([&] {
    return access((mnt_ + "/snapshots/latest" + b + "/two").c_str(), F_OK) == 0;
  })) << "latest does not lead to the new snapshot";
  EXPECT_EQ(test::ReadFile(mnt_ + "/snapshots/latest" + b + "/two"), "second\n");
  EXPECT_EQ(test::ReadFile(mnt_ + "/tags/new/latest" + b + "/two"), "second\n");
  EXPECT_EQ(test::ReadFile(mnt_ + "/tags/old/latest" + a + "/one"), "first\n");
  EXPECT_EQ(test::ReadFile(mnt_ + "/ids/" + first.substr(0, 8) + a + "/one"), "first\n");
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

TEST_F(MountTest, SigintSigtermAndFusermountUnmountAndEndTheCommand) {
  test::WriteFile(dir_.Sub("f"), "x");
  Snapshot({dir_.Sub("f")});
  for (int sig : {SIGINT, SIGTERM}) {
    auto mount = StartMount();
    EXPECT_EQ(mount->Signal(sig), 0) << "signal " << sig;
    EXPECT_FALSE(Mounted(mnt_)) << "still mounted after signal " << sig;
  }
  auto mount = StartMount();
  RunResult r = RunProgram("/bin/fusermount3", {"-u", mnt_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mount->Wait(), 0) << "the command did not end after fusermount3 -u";
  EXPECT_FALSE(Mounted(mnt_));
}

TEST_F(MountTest, BadMountpointsFailWithOneLineAndExitCode2) {
  const std::string file = dir_.Sub("file"), full = dir_.Sub("full");
  test::WriteFile(file, "x");
  ASSERT_EQ(mkdir(full.c_str(), 0755), 0);
  test::WriteFile(full + "/inside", "x");
  struct Case {
    std::string mountpoint, says;
  };
  for (const Case& c : {Case{dir_.Sub("missing"), "does not exist"},
                        Case{file, "is not a directory"}, Case{full, "is not empty"}}) {
    RunResult r = cli_.Run({"mount", c.mountpoint});
    EXPECT_EQ(r.exit_code, 2) << c.mountpoint << ": " << r.err;
    EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
  auto mount = StartMount();
  RunResult r = cli_.Run({"mount", mnt_});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is busy"), std::string::npos) << r.err;
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

// The mount served by this process, over a backend that counts the bytes read.
TEST_F(MountTest, AReadNearTheEndOfA100MiBFileFetchesOnlyTheChunksAroundIt) {
  const std::string big = dir_.Sub("big");
  {
    std::ofstream out(big, std::ios::binary);
    std::mt19937_64 rng(5);
    std::vector<uint64_t> block(1 << 17);  // 1 MiB
    for (int i = 0; i < 100; ++i) {
      for (auto& v : block) v = rng();
      out.write(reinterpret_cast<const char*>(block.data()), 1 << 20);
    }
  }
  Snapshot({big});

  auto location = OpenLocation(cli_.repo());
  ASSERT_TRUE(location.ok()) << location.status().ToString();
  auto counting = std::make_unique<test::FaultyBackend>(**location);
  test::FaultyBackend* counter = counting.get();
  auto repo =
      Repository::Open(std::move(counting), test::Password(test::kPassword), cli_.cache_dir());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  mount::MountOptions options;
  options.mountpoint = mnt_;
  auto m = mount::FuseMount::Start(**repo, options);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::thread server([&] { EXPECT_TRUE((*m)->Serve().ok()); });
  struct StopAtEnd {  // also when an assertion below returns early
    mount::FuseMount& mount;
    std::thread& server;
    ~StopAtEnd() {
      mount.Stop();
      server.join();
    }
  } stop_at_end{**m, server};

  const std::string path = mnt_ + "/snapshots/latest" + big;
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path;
  const uint64_t before = counter->BytesReadOf(FileType::kPack);
  const off_t offset = (100 << 20) - (3 << 20) + 4321;
  std::vector<char> got(1 << 20);
  EXPECT_EQ(pread(fd, got.data(), got.size(), offset), static_cast<ssize_t>(got.size()));
  const uint64_t fetched = counter->BytesReadOf(FileType::kPack) - before;
  close(fd);
  std::vector<char> want(1 << 20);
  {
    std::ifstream in(big, std::ios::binary);
    in.seekg(offset);
    in.read(want.data(), static_cast<std::streamsize>(want.size()));
  }
  EXPECT_TRUE(got == want) << "the bytes read through the mount differ from the file's";
  // The 1 MiB read, its chunks' edges (64 KiB at most each) and the content list's blobs on the
  // way there; not the 97 MiB before it.
  EXPECT_LT(fetched, (1u << 20) + (512u << 10)) << "fetched " << fetched << " bytes";
}

TEST_F(MountTest, ALargeDirectoryListsWholeAcrossReadsAndAfterSeekdir) {
  // Long names: a listing of 3000 takes many readdir calls, each ending with an entry that did
  // not fit.
  const std::string src = dir_.Sub("wide");
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  std::set<std::string> names;
  for (int i = 0; i < 3000; ++i) {
    const std::string name = "entry-" + std::to_string(i) + "-" + std::string(150, 'n');
    test::WriteFile(src + "/" + name, "");
    names.insert(name);
  }
  Snapshot({src});
  auto mount = StartMount();
  DIR* d = opendir((mnt_ + "/snapshots/latest" + src).c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> listed;
  long middle = -1;
  std::string after_middle;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    listed.push_back(name);
    if (listed.size() == 1500) middle = telldir(d);
    if (listed.size() == 1501) after_middle = name;
  }
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), names);
  EXPECT_EQ(listed.size(), names.size()) << "an entry listed twice";
  seekdir(d, middle);
  dirent* e = readdir(d);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->d_name, after_middle) << "seekdir to a telldir position continues there";
  rewinddir(d);
  size_t again = 0;
  while ((e = readdir(d))) again += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
  EXPECT_EQ(again, names.size());
  closedir(d);
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

TEST_F(MountTest, ReadsOfThousandsOfTinyChunksComeBackWhole) {
  // Chunks of 64-256 bytes: a read of the kernel's size (128 KiB) spans ~870, more than the mount
  // answers without copying.
  const std::string tiny = dir_.Sub("tiny");
  ASSERT_EQ(mkdir(tiny.c_str(), 0755), 0);
  RepoCli cli(REPO_BINARY, tiny);
  ASSERT_EQ(cli.Run({"init", "--kdf-memory-kib", "8", "--kdf-iterations", "1", "--chunk-min", "64",
                     "--chunk-avg", "128", "--chunk-max", "256"})
                .exit_code,
            0);
  std::string content;
  std::mt19937_64 rng(3);
  while (content.size() < (2u << 20)) content += std::to_string(rng()) + "\n";
  const std::string file = dir_.Sub("content");
  test::WriteFile(file, content);
  ASSERT_EQ(cli.Run({"snapshot", file}).exit_code, 0);
  auto mount = std::make_unique<BackgroundProgram>(cli.binary(), cli.Args({"mount", mnt_}));
  ASSERT_TRUE(WaitFor([&] { return Mounted(mnt_); }));
  const int fd = open((mnt_ + "/snapshots/latest" + file).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string got(content.size(), '\0');
  for (size_t at = 0; at < got.size();) {
    const ssize_t n = pread(fd, got.data() + at, std::min<size_t>(1 << 20, got.size() - at),
                            static_cast<off_t>(at));
    ASSERT_GT(n, 0) << "at " << at << ": " << std::strerror(errno);
    at += static_cast<size_t>(n);
  }
  close(fd);
  EXPECT_TRUE(got == content) << "the file read through the mount differs";
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

TEST_F(MountTest, PgRestoreListsAndRestoresATableFromADumpInsideTheMount) {
  auto bin = PgCluster::FindBinDir();
  ASSERT_TRUE(bin) << "PostgreSQL server binaries not found (.ci/install-deps installs them)";
  ASSERT_NE(getpwnam("postgres"), nullptr) << "no 'postgres' user to run the server as";
  PgCluster pg(*bin, dir_.path());
  std::string error;
  ASSERT_TRUE(pg.Start(&error)) << "cannot start a PostgreSQL server: " << error;
  ASSERT_EQ(pg.Client("createdb", {"shop"}).exit_code, 0);
  RunResult r = pg.Sql("shop",
                       "CREATE TABLE orders (id int PRIMARY KEY, item text, qty int);"
                       "INSERT INTO orders SELECT g, 'item ' || g, g % 7 FROM "
                       "generate_series(1, 20000) g;"
                       "CREATE TABLE customers (id int, name text);"
                       "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 5000) g;");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> args = {"--stdin-from-command", "--stdin-filename", "shop.dump", "--",
                                   pg.bindir() + "/pg_dump"};
  for (const auto& a : pg.ConnectArgs()) args.push_back(a);
  for (const char* a : {"-Fc", "-Z0", "shop"}) args.push_back(a);
  Snapshot(args);

  auto mount = StartMount();
  const std::string dump = mnt_ + "/snapshots/latest/shop.dump";
  r = RunProgram(pg.bindir() + "/pg_restore", {"-l", dump});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("TABLE DATA public orders"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TABLE DATA public customers"), std::string::npos) << r.out;

  ASSERT_EQ(pg.Client("createdb", {"restored"}).exit_code, 0);
  std::vector<std::string> restore = pg.ConnectArgs();
  for (const char* a : {"-d", "restored", "-t", "orders"}) restore.push_back(a);
  restore.push_back(dump);
  r = RunProgram(pg.bindir() + "/pg_restore", restore);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string sql =
      "SELECT count(*), sum(id), md5(string_agg(item || qty, ',' ORDER BY id)) "
      "FROM orders";
  RunResult original = pg.Sql("shop", sql), restored = pg.Sql("restored", sql);
  ASSERT_EQ(original.exit_code, 0) << original.err;
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(restored.out, original.out);
  EXPECT_NE(pg.Sql("restored", "SELECT 1 FROM customers").exit_code, 0)
      << "pg_restore -t orders restored another table too";
  EXPECT_EQ(mount->Signal(SIGTERM), 0);
}

}  // namespace
}  // namespace repo
