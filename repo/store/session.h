// Sessions (locks/<id>, ObjectKind::kSession; docs/format.md, "Session record"; the protocol in
// docs/design.md, "Sessions"): every command that writes or deletes registers a record of who it
// is while it runs, so that maintenance (repair now, prune later) can tell what running writers
// rely on, and so that a crashed process is recognised as gone without a clock.
//
// Writers never wait: registering is a write and a listing. Maintenance sessions exclude one
// another only: one that finds another live maintenance session backs off (Locked).
//
// A record is immutable like every repository file: refreshing writes a new copy (same session
// id, later `refreshed_ns`) and then deletes the old one; ListSessions lists until two listings
// agree, so it does not miss a session being refreshed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "base/warning_sink.h"
#include "repo/os/identity.h"
#include "repo/store/repository.h"

namespace repo {

enum class SessionKind : uint8_t { kWriter = 1, kMaintenance = 2 };
std::string_view SessionKindName(SessionKind k);  // "writer", "maintenance"

struct SessionRecord {
  Id session;  // random, the same in every copy
  SessionKind kind = SessionKind::kWriter;
  std::string command;  // "snapshot", "repair index"
  std::string username;
  ProcessIdentity process;
  int64_t started_ns = 0;    // wall clock, for people and --assume-dead-after only
  int64_t refreshed_ns = 0;  // when this copy was written
  // Snapshots whose content the writer reuses without looking it up in the index (a snapshot's
  // parent): they stay roots for prune while the session lives, even if forgotten meanwhile.
  std::vector<Id> parents;
  friend bool operator==(const SessionRecord&, const SessionRecord&) = default;
};

inline constexpr uint8_t kSessionVersion = 1;

Bytes EncodeSessionPayload(const SessionRecord& r);
Result<SessionRecord> DecodeSessionPayload(ByteSpan payload, const std::string& what);
// Seals and writes one copy of `r` into locks/; returns its file id.
Result<Id> WriteSessionRecord(const MetadataStore& metadata, const SessionRecord& r);

// What a listing knows of a session's process.
enum class SessionState {
  kRunning,     // this host, and the process is there
  kGone,        // this host, and the process is provably gone (other boot, pid absent or reused)
  kElsewhere,   // another host or pid namespace: counts as alive
  kExpired,     // not refreshed within --assume-dead-after: counts as dead
  kUnreadable,  // a file of locks/ that does not open (damaged, or a newer format): counts as
                // alive; `repo unlock` removes it
};
std::string_view SessionStateName(SessionState s);
inline bool SessionCountsAsDead(SessionState s) {
  return s == SessionState::kGone || s == SessionState::kExpired;
}

struct SessionInfo {
  SessionRecord record;   // the newest copy (for kUnreadable: only `session`, the file's id)
  std::vector<Id> files;  // every copy in locks/
  SessionState state = SessionState::kElsewhere;
};

// Every session of `repo` (copies grouped by session id), oldest first, unreadable records last.
// Every session registered before the call and not ended is in the answer: the listing is
// repeated until two in a row agree and no listed copy vanished before it was read (a refresh
// writes the new copy before deleting the old), which holds unless a session is refreshed twice
// during two listings. Transient if they keep changing; errors of the storage as they are.
// `assume_dead_after`: sessions whose newest copy is older count as kExpired (only sessions that
// are not kRunning or kGone).
Result<std::vector<SessionInfo>> ListSessions(
    Repository& repo, std::optional<std::chrono::seconds> assume_dead_after = std::nullopt);
// Deletes every copy of `s`; copies already gone are fine.
Status RemoveSession(Repository& repo, const SessionInfo& s);
// "session 1a2b3c4d (repo snapshot, pid 1234 on db1, started 2026-12-07 02:00:01)".
std::string DescribeSession(const SessionInfo& s);

struct SessionOptions {
  std::chrono::milliseconds refresh_interval{std::chrono::minutes(5)};
  std::optional<std::chrono::seconds> assume_dead_after;
  // Stale sessions removed at Begin, and the destructor's failure to remove this session's
  // record.
  WarningSink note;
};

// This process's session: registered by Begin, refreshed by a thread of its own, removed by End
// or the destructor (which says through options.note if it could not).
class Session {
 public:
  // Registers a session of `kind` after removing the sessions counted dead (each named through
  // options.note). A maintenance session then backs off with Locked, naming the other, if
  // another maintenance session counts as alive.
  static Result<std::unique_ptr<Session>> Begin(Repository& repo, SessionKind kind,
                                                std::string command, std::vector<Id> parents,
                                                SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Removes the record (stops refreshing). Idempotent.
  Status End();
  // Writes a new copy of the record, then deletes the previous one (the refresh thread does this
  // every refresh_interval). Aborted, and no copy left, if the previous copy was removed by
  // someone else meanwhile: a removed session is never brought back.
  Status Refresh();
  // OK while this session's record is in place; Aborted if someone removed it (`repo unlock`):
  // maintenance may then treat what it relies on as unused.
  Status CheckIntact();
  // Runs `commit`, the write that makes this command's work visible (a snapshot record), only
  // if the session is intact (else Aborted, and it does not run), and so that the record is not
  // removed while it runs (a signal's EndAllForExit waits for it).
  Status Commit(const std::function<Status()>& commit);

  const Id& id() const { return record_.session; }

  // For a signal handler's thread, before _exit: removes the records of every session of this
  // process, without waiting for their refresh threads.
  static void EndAllForExit();

 private:
  Session(Repository& repo, SessionRecord record, SessionOptions options);
  void RefreshLoop();
  Status CheckIntactLocked();

  Repository& repo_;
  SessionOptions options_;
  std::mutex mu_;
  std::condition_variable stop_;
  SessionRecord record_;
  std::optional<Id> file_;     // the current copy; nullopt once ended or lost
  std::vector<Id> leftovers_;  // earlier copies whose deletion failed; End tries again
  bool ending_ = false;
  Status lost_;  // set when a refresh found the record removed by someone else
  std::thread refresher_;
};

}  // namespace repo
