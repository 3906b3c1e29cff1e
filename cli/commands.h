// The command table: every `repo` command, its options and its entry point.
#pragma once

#include <cxxopts.hpp>

#include "cli/app.h"

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
// cmd_repair.cc
int RunRepairIndex(Context& ctx);

}  // namespace repo::cli
