// PgCluster: a throwaway PostgreSQL server for system tests (USE-CASES.md jobs 1, 3, 5). The
// server runs as the `postgres` user (initdb and postgres refuse root) with its data directory
// and unix socket in a test's temporary directory, listens on no TCP address, and is stopped
// (immediate mode) when the object goes away, also when the test fails. Clients run as the
// calling user and connect over the socket as database user `postgres` (trust authentication).
// Header-only; link tests/support/subprocess.cc.
#pragma once

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace repo::test {

class PgCluster {
 public:
  // The directory with initdb, pg_ctl, psql, pg_dump, pg_restore and pgbench: $PG_BINDIR, else
  // the newest /usr/lib/postgresql/N/bin that has them all; nullopt if none.
  static std::optional<std::string> FindBinDir() {
    auto complete = [](const std::string& dir) {
      for (const char* b :
           {"initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore", "pgbench"}) {
        if (access((dir + "/" + b).c_str(), X_OK) != 0) return false;
      }
      return true;
    };
    if (const char* env = std::getenv("PG_BINDIR"); env && *env) {
      return complete(env) ? std::optional<std::string>(env) : std::nullopt;
    }
    std::optional<std::string> best;
    int best_version = -1;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      const std::string name = e.path().filename().string();
      int version = std::atoi(name.c_str());
      const std::string bin = e.path().string() + "/bin";
      if (version > best_version && complete(bin)) {
        best = bin;
        best_version = version;
      }
    }
    return best;
  }

  // REQUIRES: running as root, a `postgres` user exists, `dir` exists (made traversable here).
  PgCluster(std::string bindir, const std::string& dir)
      : bin_(std::move(bindir)),
        data_(dir + "/pgdata"),
        socket_dir_(dir + "/pgsock"),
        log_(dir + "/pglog/server.log") {}

  ~PgCluster() { Stop(); }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // initdb + start; on failure returns false with the reason in `error`.
  bool Start(std::string* error) {
    passwd* pw = getpwnam("postgres");
    if (!pw) return *error = "no 'postgres' user", false;
    const std::string dir = std::filesystem::path(data_).parent_path().string();
    chmod(dir.c_str(), 0711);  // let postgres reach its directories inside the test's
    for (const std::string& d :
         {data_, socket_dir_, std::filesystem::path(log_).parent_path().string()}) {
      std::filesystem::create_directories(d);
      if (chown(d.c_str(), pw->pw_uid, pw->pw_gid) != 0) return *error = "chown " + d, false;
    }
    chmod(data_.c_str(), 0700);
    RunResult r = AsPostgres({bin_ + "/initdb", "-D", data_, "-A", "trust", "-U", "postgres",
                              "--no-sync", "-E", "UTF8", "--locale=C"});
    if (r.exit_code != 0) return *error = "initdb failed: " + r.err + r.out, false;
    r = AsPostgres({bin_ + "/pg_ctl", "-D", data_, "-l", log_, "-w", "-t", "60", "-o",
                    "-k " + socket_dir_ +
                        " -c listen_addresses='' -c fsync=off -c full_page_writes=off"
                        " -c synchronous_commit=off",
                    "start"});
    if (r.exit_code != 0) {
      return *error = "pg_ctl start failed: " + r.err + r.out + ReadFile(log_), false;
    }
    started_ = true;
    return true;
  }

  void Stop() {
    if (!started_) return;
    started_ = false;
    AsPostgres({bin_ + "/pg_ctl", "-D", data_, "-m", "immediate", "-w", "stop"});
  }

  const std::string& bindir() const { return bin_; }
  const std::string& socket_dir() const { return socket_dir_; }

  // Connection options for clients: {"-h", SOCKET_DIR, "-U", "postgres"}.
  std::vector<std::string> ConnectArgs() const { return {"-h", socket_dir_, "-U", "postgres"}; }

  // Runs the client program `name` (psql, pg_dump, ...) with connection options and `args`.
  RunResult Client(const std::string& name, const std::vector<std::string>& args) const {
    std::vector<std::string> full = ConnectArgs();
    full.insert(full.end(), args.begin(), args.end());
    return RunProgram(bin_ + "/" + name, full);
  }

  // psql -X -A -t -v ON_ERROR_STOP=1 -d db -c sql: the result rows, unaligned.
  RunResult Sql(const std::string& db, const std::string& sql) const {
    return Client("psql", {"-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql});
  }

 private:
  RunResult AsPostgres(const std::vector<std::string>& argv) const {
    std::vector<std::string> args = {"-u", "postgres", "--"};
    args.insert(args.end(), argv.begin(), argv.end());
    return RunProgram("/usr/sbin/runuser", args);
  }

  std::string bin_, data_, socket_dir_, log_;
  bool started_ = false;
};

}  // namespace repo::test
