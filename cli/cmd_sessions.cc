// repo sessions: list the sessions of the repository; repo unlock: remove one.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"

namespace repo::cli {

void SessionsOptionsSpec(cxxopts::Options& o) { AddSessionOptions(o); }

namespace {

// What the state means for other commands, in a few words.
std::string StateText(SessionState s) {
  switch (s) {
    case SessionState::kRunning:
      return "running";
    case SessionState::kGone:
      return "stale (process gone)";
    case SessionState::kElsewhere:
      return "alive (other host)";
    case SessionState::kExpired:
      return "stale (not refreshed)";
    case SessionState::kUnreadable:
      return "unreadable";
  }
  return "";
}

std::string SessionJson(const SessionInfo& s) {
  const SessionRecord& r = s.record;
  JsonObject o;
  o.Str("id", r.session.Hex())
      .Str("short_id", r.session.ShortHex())
      .Str("state", SessionStateName(s.state))
      .Bool("counts_as_dead", SessionCountsAsDead(s.state));
  if (s.state != SessionState::kUnreadable) {
    std::vector<std::string> parents;
    for (const Id& p : r.parents) parents.push_back(JsonQuote(p.Hex()));
    o.Str("kind", SessionKindName(r.kind))
        .Str("command", r.command)
        .Str("username", r.username)
        .Str("hostname", r.process.hostname)
        .Int("pid", r.process.pid)
        .Int("started_ns", r.started_ns)
        .Int("refreshed_ns", r.refreshed_ns)
        .Raw("parents", JsonArray(parents));
  }
  return o.Build();
}

}  // namespace

int RunSessions(Context& ctx) {
  auto options = SessionOptionsFrom(ctx);
  if (!options.ok()) return Fail(options.status());
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto sessions = ListSessions(**repo, options->assume_dead_after);
  if (!sessions.ok()) return Fail(sessions.status());
  if (ctx.global.json) {
    std::vector<std::string> items;
    for (const SessionInfo& s : *sessions) items.push_back(SessionJson(s));
    Print(JsonArray(items));
    return kExitOk;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-9s %-11s %-14s %-16s %8s %-19s %-19s %s", "ID", "Kind",
                "Command", "Host", "PID", "Started", "Refreshed", "State");
  Print(line);
  for (const SessionInfo& s : *sessions) {
    const SessionRecord& r = s.record;
    if (s.state == SessionState::kUnreadable) {
      Print(r.session.ShortHex() + "  (a file of locks/ that does not open as a session record)");
      continue;
    }
    std::snprintf(line, sizeof line, "%-9s %-11s %-14s %-16s %8u %-19s %-19s %s",
                  r.session.ShortHex().c_str(), std::string(SessionKindName(r.kind)).c_str(),
                  r.command.c_str(), r.process.hostname.c_str(), r.process.pid,
                  FormatTime(r.started_ns / 1000000000).c_str(),
                  FormatTime(r.refreshed_ns / 1000000000).c_str(), StateText(s.state).c_str());
    Print(line);
  }
  Print(std::to_string(sessions->size()) + " sessions");
  return kExitOk;
}

int RunUnlock(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return Fail(Status::InvalidArgument("unlock takes exactly one SESSION id (see repo sessions)"));
  }
  const std::string& prefix = ctx.positional[0];
  if (prefix.size() < 4) {
    return Fail(Status::InvalidArgument("session id '" + prefix +
                                        "' is too short; give at least 4 hex digits"));
  }
  auto repo = OpenRepository(ctx.global);
  if (!repo.ok()) return FailOpen(repo.status());
  auto sessions = ListSessions(**repo);
  if (!sessions.ok()) return Fail(sessions.status());
  const SessionInfo* match = nullptr;
  for (const SessionInfo& s : *sessions) {
    if (s.record.session.Hex().compare(0, prefix.size(), prefix) != 0) continue;
    if (match) {
      return Fail(Status::InvalidArgument("session id '" + prefix +
                                          "' is ambiguous: several sessions start with it"));
    }
    match = &s;
  }
  if (!match) {
    return Fail(Status::NotFound("no session matches id '" + prefix + "' (see repo sessions)"));
  }
  if (match->state == SessionState::kRunning) {
    return Fail(Status::InvalidArgument(
        DescribeSession(*match) + " is running on this host; stop it instead of unlocking it"));
  }
  // A refresh may write a new copy just before the listed one is removed: remove what the next
  // listing still shows of the session (that refresh then finds its old copy gone and stops).
  SessionInfo target = *match;
  for (int attempt = 0;; ++attempt) {
    Status removed = RemoveSession(**repo, target);
    if (!removed.ok()) return Fail(removed);
    auto again = ListSessions(**repo);
    if (!again.ok()) return Fail(again.status());
    const SessionInfo* left = nullptr;
    for (const SessionInfo& s : *again) {
      if (s.record.session == target.record.session) left = &s;
    }
    if (!left) break;
    if (attempt == 5) {
      return Fail(Status::IOError(DescribeSession(*left) + " keeps writing new records; is it " +
                                  "running after all?"));
    }
    target.files = left->files;
  }
  if (ctx.global.json) {
    Print(JsonObject().Str("removed", match->record.session.Hex()).Build());
  } else if (ctx.global.verbosity >= 0) {
    Print("removed " + DescribeSession(*match));
  }
  return kExitOk;
}

}  // namespace repo::cli
