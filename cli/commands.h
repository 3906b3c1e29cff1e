// The command table: every `repo` command, its options and its entry point.
#pragma once

#include <cxxopts.hpp>

#include "cli/app.h"
#include "repo/maintenance/check.h"

namespace repo::cli {

struct Command {
  const char* name;        // "init", "key"
  const char* sub;         // "list" for `repo key list`; nullptr if none
  const char* summary;     // one line for `repo --help`
  const char* positional;  // usage of positional arguments, e.g. "ID"
  void (*add_options)(cxxopts::Options&);
  int (*run)(Context&);
};

// All commands, in help order.
const std::vector<Command>& AllCommands();

// cmd_init.cc
void InitOptionsSpec(cxxopts::Options& o);
int RunInit(Context& ctx);
// cmd_key.cc
void KeyAddOptionsSpec(cxxopts::Options& o);
int RunKeyList(Context& ctx);
int RunKeyAdd(Context& ctx);
int RunKeyRemove(Context& ctx);
int RunKeyPasswd(Context& ctx);
// cmd_snapshot.cc
void SnapshotOptionsSpec(cxxopts::Options& o);
int RunSnapshot(Context& ctx);
// cmd_snapshots.cc
void SnapshotsOptionsSpec(cxxopts::Options& o);
int RunSnapshots(Context& ctx);
// cmd_ls.cc
void LsOptionsSpec(cxxopts::Options& o);
int RunLs(Context& ctx);
int RunDump(Context& ctx);
// cmd_restore.cc
void RestoreOptionsSpec(cxxopts::Options& o);
int RunRestore(Context& ctx);
// cmd_repair.cc
void RepairOptionsSpec(cxxopts::Options& o);
int RunRepairIndex(Context& ctx);
void RepairSnapshotsOptionsSpec(cxxopts::Options& o);
int RunRepairSnapshots(Context& ctx);
void RepairPacksOptionsSpec(cxxopts::Options& o);
int RunRepairPacks(Context& ctx);
// cmd_check.cc
void CheckOptionsSpec(cxxopts::Options& o);
int RunCheck(Context& ctx);
// Shared by check and the repairs: a check with a status line on a terminal (unless --json or
// --no-progress), and its damage as lines (per snapshot, its paths) or as a JSON array.
Result<CheckReport> CheckWithProgress(Context& ctx, Repository& repo, const CheckOptions& options);
void PrintDamagedSnapshots(const std::vector<DamagedSnapshot>& snapshots);
std::string DamagedSnapshotsJson(const std::vector<DamagedSnapshot>& snapshots);
// cmd_forget.cc
void ForgetOptionsSpec(cxxopts::Options& o);
int RunForget(Context& ctx);
// cmd_sessions.cc
void SessionsOptionsSpec(cxxopts::Options& o);
int RunSessions(Context& ctx);
int RunUnlock(Context& ctx);
// cmd_find.cc
void FindOptionsSpec(cxxopts::Options& o);
int RunFind(Context& ctx);
// cmd_diff.cc
void DiffOptionsSpec(cxxopts::Options& o);
int RunDiff(Context& ctx);
// cmd_stats.cc
void StatsOptionsSpec(cxxopts::Options& o);
int RunStats(Context& ctx);
// cmd_tag.cc
void TagOptionsSpec(cxxopts::Options& o);
int RunTag(Context& ctx);
// cmd_mount.cc
void MountOptionsSpec(cxxopts::Options& o);
int RunMount(Context& ctx);

}  // namespace repo::cli
