// PostgreSQL dumps through `repo snapshot --stdin-from-command` (USE-CASES.md jobs 1 and 5),
// against a real server: two nightly dumps of a database in which few rows changed share most
// chunks, and what `repo dump` returns is a valid archive pg_restore lists, restores one table
// from, and restores into a database equal to the source.
//
// Needs root and the PostgreSQL server binaries (Debian: postgresql-15, from the `postgresql`
// package); skipped, saying so, only when those binaries are absent.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/pg_cluster.h"
#include "tests/support/repo_cli.h"
#include "tests/support/temp_dir.h"

namespace repo {
namespace {

using test::JsonValue;
using test::PgCluster;
using test::RepoCli;
using test::RunProgram;
using test::RunResult;
using test::TempDir;

constexpr int kScale = 5;  // pgbench scale: 500,000 accounts, a ~50 MB dump

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (to run the server as the postgres user)";
    auto bin = PgCluster::FindBinDir();
    if (!bin) {
      GTEST_SKIP() << "PostgreSQL server binaries not found (no /usr/lib/postgresql/N/bin with "
                      "initdb, pg_ctl, pgbench, ...; install the Debian package postgresql-15, "
                      "or set PG_BINDIR)";
    }
    ASSERT_NE(getpwnam("postgres"), nullptr) << "PostgreSQL is installed but there is no "
                                                "'postgres' user to run the server as";
    RunResult r = cli_.Init();
    ASSERT_EQ(r.exit_code, 0) << "repo init failed: " << r.err;
    pg_.emplace(*bin, dir_.path());
    std::string error;
    ASSERT_TRUE(pg_->Start(&error)) << "cannot start a PostgreSQL server: " << error;
  }

  // `repo snapshot --stdin-from-command` of pg_dump -Fc -Z0 of `db`: the summary.
  JsonValue DumpSnapshot(const std::string& db) {
    std::vector<std::string> args = {"snapshot",         "--json",     "--stdin-from-command",
                                     "--stdin-filename", db + ".dump", "--tag",
                                     "postgres",         "--",         pg_->bindir() + "/pg_dump"};
    for (const auto& a : pg_->ConnectArgs()) args.push_back(a);
    for (const char* a : {"-Fc", "-Z0"}) args.push_back(a);
    args.push_back(db);
    RunResult r = cli_.Run(args);
    EXPECT_EQ(r.exit_code, 0) << "snapshot of pg_dump failed: " << r.err;
    JsonValue s = RepoCli::Summary(r);
    EXPECT_TRUE(s.is_object()) << "no summary: " << r.out;
    return s;
  }

  // `repo dump SNAPSHOT FILE | command...`: exit status 0 only if both sides succeed, except
  // that with `reader_stops_early` repo may die of SIGPIPE (pg_restore -l reads the table of
  // contents and exits, as `head` would).
  RunResult DumpInto(const std::string& snapshot, const std::string& file,
                     const std::vector<std::string>& command, bool reader_stops_early = false) {
    std::string script = "\"$@\" |";
    for (const auto& c : command) script += " '" + c + "'";
    script += "; s=(\"${PIPESTATUS[@]}\"); [ ${s[1]} = 0 ] || exit ${s[1]}; ";
    script += reader_stops_early ? "[ ${s[0]} = 0 ] || [ ${s[0]} = 141 ] || exit ${s[0]}"
                                 : "exit ${s[0]}";
    std::vector<std::string> args = {"-c", script, "bash", cli_.binary()};
    for (const auto& a : cli_.Args({"dump", snapshot, file})) args.push_back(a);
    return RunProgram("/bin/bash", args);
  }

  std::string Query(const std::string& db, const std::string& sql) {
    RunResult r = pg_->Sql(db, sql);
    EXPECT_EQ(r.exit_code, 0) << sql << ": " << r.err;
    return r.out;
  }

  TempDir dir_;
  RepoCli cli_{REPO_BINARY, dir_.path()};
  std::optional<PgCluster> pg_;  // declared last: the server stops before the directory goes
};

TEST_F(PostgresTest, SuccessiveDumpsShareMostChunksAndRestore) {
  RunResult r = pg_->Client("createdb", {"bench"});
  ASSERT_EQ(r.exit_code, 0) << "createdb: " << r.err;
  r = pg_->Client("pgbench", {"-i", "-q", "-s", std::to_string(kScale), "bench"});
  ASSERT_EQ(r.exit_code, 0) << "pgbench -i: " << r.err;

  JsonValue first = DumpSnapshot("bench");
  const int64_t dump_size = first["bytes_processed"].Int();
  ASSERT_GT(dump_size, 20 << 20) << "the pg_dump archive is implausibly small";

  // 0.1% of the accounts change, spread over the whole table (every 1000th row).
  r = pg_->Sql("bench", "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 7");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "UPDATE " + std::to_string(kScale * 100) + "\n");

  JsonValue second = DumpSnapshot("bench");
  std::cerr << "pg_dump sizes " << dump_size << ", " << second["bytes_processed"].Int()
            << " bytes; added " << first["bytes_added"].Int() << " then "
            << second["bytes_added"].Int() << " bytes in " << first["data_blobs"].Int() << " then "
            << second["data_blobs"].Int() << " new chunks\n";
  // Most chunks are shared: the second dump adds under half the chunks (and, compressed, under
  // half the bytes) the first did. (Compared with the first snapshot, not with the dump size: the
  // added bytes are compressed, so they are far below the dump size even without any dedup.)
  EXPECT_LT(second["data_blobs"].Int() * 2, first["data_blobs"].Int())
      << "the second dump shares too few chunks with the first";
  EXPECT_LT(second["bytes_added"].Int() * 2, first["bytes_added"].Int());
  EXPECT_LT(second["bytes_added"].Int() * 2, dump_size);

  // What repo gives back is a valid custom-format archive with the tables in it.
  const std::string pg_restore = pg_->bindir() + "/pg_restore";
  r = DumpInto("latest", "bench.dump", {pg_restore, "-l"}, /*reader_stops_early=*/true);
  ASSERT_EQ(r.exit_code, 0) << "repo dump | pg_restore -l: " << r.err;
  EXPECT_NE(r.out.find("TABLE DATA public pgbench_accounts"), std::string::npos) << r.out;

  // Single-table recovery (use case 5). pg_restore may exit once it has the table, before the
  // rest of the stream (repo dump then ends on SIGPIPE, as any writer to a closed pipe).
  r = DumpInto("latest", "bench.dump", {pg_restore, "-t", "pgbench_branches", "-f", "-"},
               /*reader_stops_early=*/true);
  ASSERT_EQ(r.exit_code, 0) << "pg_restore -t pgbench_branches: " << r.err;
  EXPECT_NE(r.out.find("COPY public.pgbench_branches"), std::string::npos) << r.out;
  for (int b = 1; b <= kScale; ++b) {
    EXPECT_NE(r.out.find("\n" + std::to_string(b) + "\t0\t"), std::string::npos)
        << "branch " << b << " missing from the restored table data:\n"
        << r.out;
  }

  // A full restore of the second dump equals the database now; the first dump has the old data.
  auto restore_into = [&](const std::string& snapshot, const std::string& db) {
    RunResult c = pg_->Client("createdb", {db});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    std::vector<std::string> cmd = {pg_restore, "-d", db};
    for (const auto& a : pg_->ConnectArgs()) cmd.push_back(a);
    c = DumpInto(snapshot, "bench.dump", cmd);
    ASSERT_EQ(c.exit_code, 0) << "repo dump " << snapshot << " | pg_restore -d " << db << ": "
                              << c.err;
  };
  const std::string totals =
      "SELECT count(*), sum(abalance), sum(aid::bigint * abalance) FROM pgbench_accounts";
  restore_into("latest", "restored");
  EXPECT_EQ(Query("restored", totals), Query("bench", totals));
  EXPECT_EQ(Query("restored", "SELECT sum(abalance) FROM pgbench_accounts"),
            std::to_string(kScale * 100) + "\n");
  restore_into(first["snapshot_id"].Str().substr(0, 8), "restored_first");
  EXPECT_EQ(Query("restored_first", "SELECT count(*), sum(abalance) FROM pgbench_accounts"),
            std::to_string(kScale * 100000) + "|0\n");
}

// A dump that fails (here: a database that does not exist) must fail the job and leave no
// snapshot, even though pg_dump may already have written part of its output.
TEST_F(PostgresTest, FailedDumpLeavesNoSnapshot) {
  std::vector<std::string> args = {
      "snapshot", "--stdin-from-command",    "--stdin-filename", "missing.dump",
      "--",       pg_->bindir() + "/pg_dump"};
  for (const auto& a : pg_->ConnectArgs()) args.push_back(a);
  for (const char* a : {"-Fc", "no_such_database"}) args.push_back(a);
  RunResult r = cli_.Run(args);
  EXPECT_NE(r.exit_code, 0) << "snapshot of a failed pg_dump succeeded";
  EXPECT_NE(r.exit_code, 3);
  EXPECT_NE(r.err.find("no_such_database"), std::string::npos) << "pg_dump's own error: " << r.err;
  EXPECT_NE(r.err.find("no snapshot"), std::string::npos) << r.err;
  EXPECT_TRUE(cli_.FilesIn("snapshots").empty()) << "a snapshot was written";
}

}  // namespace
}  // namespace repo
