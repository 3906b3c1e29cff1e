// repo key list | add | remove | passwd: the passwords that open a repository.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"

namespace repo::cli {

void KeyAddOptionsSpec(cxxopts::Options& o) {
  o.add_options("key")("new-password-file", "read the new password from this file",
                       cxxopts::value<std::string>())(
      "new-password-command", "read the new password from this command's output",
      cxxopts::value<std::string>());
  AddKdfOptions(o);
}

static Result<SecretBytes> NewPassword(const Context& ctx) {
  PasswordSource src;
  if (ctx.args.count("new-password-file"))
    src.file = ctx.args["new-password-file"].as<std::string>();
  if (ctx.args.count("new-password-command")) {
    src.command = ctx.args["new-password-command"].as<std::string>();
  }
  return ReadPassword(src, "enter new password", true);
}

int RunKeyList(Context& ctx) {
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto keys = (*repo)->ListKeys();
  if (!keys.ok()) return Fail(keys.status());
  if (ctx.global.json) {
    std::vector<std::string> items;
    for (const KeyDescription& k : *keys) {
      items.push_back(JsonObject()
                          .Str("id", k.id.Hex())
                          .Bool("current", k.current)
                          .Str("username", k.info.username)
                          .Str("hostname", k.info.hostname)
                          .Int("created", k.info.created_unix)
                          .Int("kdf_memory_kib", static_cast<int64_t>(k.info.kdf.memlimit >> 10))
                          .Int("kdf_iterations", static_cast<int64_t>(k.info.kdf.opslimit))
                          .Build());
    }
    Print(JsonArray(items));
    return kExitOk;
  }
  char line[256];
  std::snprintf(line, sizeof line, " %-9s %-12s %-20s %s", "ID", "User", "Host", "Created");
  Print(line);
  for (const KeyDescription& k : *keys) {
    std::snprintf(line, sizeof line, "%c%-9s %-12s %-20s %s", k.current ? '*' : ' ',
                  k.id.ShortHex().c_str(), k.info.username.c_str(), k.info.hostname.c_str(),
                  FormatTime(k.info.created_unix).c_str());
    Print(line);
  }
  return kExitOk;
}

int RunKeyAdd(Context& ctx) {
  auto kdf = KdfFromArgs(ctx.args);
  if (!kdf.ok()) return Fail(kdf.status());
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto password = NewPassword(ctx);
  if (!password.ok()) return Fail(password.status());
  auto session = BeginSession(**repo, ctx, SessionKind::kWriter, "key add");
  if (!session.ok()) return Fail(session.status());
  auto id = (*repo)->AddKey(*password, *kdf);
  if (!id.ok()) return Fail(id.status());
  if (ctx.global.json) {
    Print(JsonObject().Str("id", id->Hex()).Build());
  } else if (ctx.global.verbosity >= 0) {
    Print("added key " + id->ShortHex());
  }
  return kExitOk;
}

int RunKeyRemove(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return Fail(Status::InvalidArgument("key remove takes exactly one key ID"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto id = (*repo)->ResolvePrefix(FileType::kKey, ctx.positional[0]);
  if (!id.ok()) return Fail(id.status());
  auto session = BeginSession(**repo, ctx, SessionKind::kWriter, "key remove");
  if (!session.ok()) return Fail(session.status());
  Status s = (*repo)->RemoveKey(*id);
  if (!s.ok()) return Fail(s);
  if (ctx.global.json) {
    Print(JsonObject().Str("removed", id->Hex()).Build());
  } else if (ctx.global.verbosity >= 0) {
    Print("removed key " + id->ShortHex());
  }
  return kExitOk;
}

int RunKeyPasswd(Context& ctx) {
  auto kdf = KdfFromArgs(ctx.args);
  if (!kdf.ok()) return Fail(kdf.status());
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto password = NewPassword(ctx);
  if (!password.ok()) return Fail(password.status());
  auto session = BeginSession(**repo, ctx, SessionKind::kWriter, "key passwd");
  if (!session.ok()) return Fail(session.status());
  Id old = (*repo)->key_id();
  auto id = (*repo)->ChangePassword(*password, *kdf);
  if (!id.ok()) return Fail(id.status());
  if (ctx.global.json) {
    Print(JsonObject().Str("id", id->Hex()).Str("removed", old.Hex()).Build());
  } else if (ctx.global.verbosity >= 0) {
    Print("changed password: key " + old.ShortHex() + " replaced by " + id->ShortHex());
  }
  return kExitOk;
}

}  // namespace repo::cli
