// Faults from the disk (issue 16), with the real binary: tests/support/syscall_faults.cc, loaded
// with LD_PRELOAD, makes the N-th write, fsync, link/rename or read of a repository file fail the
// way a disk does (EIO, ENOSPC, a short write then ENOSPC, a failed link), for every N up to what a
// clean run makes. Under snapshot, repair index and check: the command exits 1 with one line
// naming what failed and the system's reason (or, when the fault comes after its work is
// committed, exits 0 with a warning saying so), never a crash or a silent success; the
// repository, without the fault, checks clean; and the next snapshot succeeds.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::ReadFile;
using test::RepoCli;
using test::RunResult;
using test::WriteFile;

struct Fault {
  std::string op;     // write, fsync, link, read
  std::string error;  // EIO, ENOSPC
  bool short_write = false;
  std::string Describe() const { return (short_write ? "short " : "") + op + " " + error; }
  std::string Reason() const {  // what the message must say
    return short_write || error == "ENOSPC" ? std::strerror(ENOSPC) : std::strerror(EIO);
  }
};

class SyscallFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cli_.Init().exit_code, 0);
    std::filesystem::create_directories(src_);
    NewFile();
    ASSERT_EQ(cli_.Run({"snapshot", src_}).exit_code, 0);
  }

  // A new file of 1.5 MiB of random bytes: the next snapshot writes a pack.
  void NewFile() {
    std::string s(1536 << 10, '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    WriteFile(src_ + "/f" + std::to_string(files_++), s);
  }

  // `repo args...` with the fault library loaded; `nth` 0 counts calls only. Returns the result
  // and the counts ("write", "fsync", "link", "read", "fired").
  RunResult Run(const std::vector<std::string>& args, const Fault& f, long nth,
                std::map<std::string, long>* counts) {
    const std::string counts_file = dir_.Sub("counts");
    std::filesystem::remove(counts_file);
    std::map<std::string, std::string> env = {{"LD_PRELOAD", SYSCALL_FAULTS_LIB},
                                              {"REPO_FAULT_PATH", cli_.repo() + "/"},
                                              {"REPO_FAULT_OP", f.op},
                                              {"REPO_FAULT_NTH", std::to_string(nth)},
                                              {"REPO_FAULT_ERRNO", f.error},
                                              {"REPO_FAULT_SHORT", f.short_write ? "1" : "0"},
                                              {"REPO_FAULT_COUNTS", counts_file}};
    RunResult r = test::RunProgram(cli_.binary(), cli_.Args(args), env);
    std::istringstream in(ReadFile(counts_file));
    std::string name;
    long n = 0;
    counts->clear();
    while (in >> name >> n) (*counts)[name] = n;
    return r;
  }

  void ExpectClean(const std::string& after) {
    RunResult r = cli_.Run({"check", "--read-data", "--no-progress"});
    EXPECT_EQ(r.exit_code, 0) << after << ": " << r.out << r.err;
  }

  // Runs `args` (after `prepare`) once per call of f.op a clean run makes, the N-th failing.
  // `snapshots`: whether the command writes a snapshot (then exactly when it exits 0).
  void EveryCall(const std::vector<std::string>& args, const Fault& f,
                 const std::function<void()>& prepare, bool writes, bool snapshots = false) {
    std::map<std::string, long> counts;
    prepare();
    RunResult clean = Run(args, f, 0, &counts);
    ASSERT_EQ(clean.exit_code, 0) << clean.err;
    const long calls = counts[f.op];
    ASSERT_GT(calls, 0) << f.Describe() << ": the command makes no such call";
    long fired = 0;
    for (long n = 1; n <= calls; ++n) {
      const std::string what = Join(args) + ", " + f.Describe() + " at call " + std::to_string(n) +
                               " of " + std::to_string(calls);
      SCOPED_TRACE(what);
      prepare();
      const size_t before = snapshots ? cli_.Snapshots().size() : 0;
      RunResult r = Run(args, f, n, &counts);
      if (counts["fired"] != 1) continue;  // this run made fewer such calls (timing)
      ++fired;
      if (snapshots) {  // the work was done exactly when the command says so
        EXPECT_EQ(cli_.Snapshots().size(), before + (r.exit_code == 0 ? 1 : 0)) << r.err;
      }
      // Failed, in one line naming what and why; or, when the fault came after the command's
      // work was committed (removing its session record), done, with a warning that says so.
      EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 0) << r.out << r.err;
      EXPECT_NE(r.err.find(f.Reason()), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      if (r.exit_code == 0) EXPECT_EQ(r.err.rfind("repo: warning: ", 0), 0u) << r.err;
      if (writes) ExpectClean("after " + what);
      if (HasFailure()) return;
    }
    EXPECT_GE(fired, (calls + 1) / 2) << "most runs should meet their fault";
    NewFile();
    RunResult next = cli_.Run({"snapshot", src_});
    EXPECT_EQ(next.exit_code, 0) << next.err;
    ExpectClean("after the next snapshot");
  }

  static std::string Join(const std::vector<std::string>& args) {
    std::string out = "repo";
    for (const std::string& a : args) out += " " + a;
    return out;
  }

  test::TempDir dir_;
  const std::string src_ = dir_.Sub("src");
  RepoCli cli_{REPO_BINARY, dir_.path()};
  std::mt19937_64 rng_{7};
  int files_ = 0;
};

TEST_F(SyscallFaultTest, SnapshotFailingAtEveryWriteFsyncAndLink) {
  for (const Fault& f :
       {Fault{"write", "EIO"}, Fault{"write", "ENOSPC"}, Fault{"write", "ENOSPC", true},
        Fault{"fsync", "EIO"}, Fault{"link", "EIO"}}) {
    EveryCall(
        {"snapshot", src_, "--no-progress"}, f, [&] { NewFile(); }, true, true);
    if (HasFailure()) return;
  }
}

TEST_F(SyscallFaultTest, RepairIndexFailingAtEveryWriteFsyncAndLink) {
  for (const Fault& f : {Fault{"write", "ENOSPC"}, Fault{"write", "ENOSPC", true},
                         Fault{"fsync", "EIO"}, Fault{"link", "EIO"}}) {
    EveryCall(
        {"repair", "index"}, f, [] {}, true);
    if (HasFailure()) return;
  }
}

TEST_F(SyscallFaultTest, CheckFailingAtEveryRead) {
  EveryCall(
      {"check", "--read-data", "--no-progress"}, Fault{"read", "EIO"}, [] {}, false);
}

}  // namespace
}  // namespace repo
