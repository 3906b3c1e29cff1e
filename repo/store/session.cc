#include "repo/store/session.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "crypto/secret.h"

namespace repo {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every live Session of this process, for EndAllForExit.
std::mutex& LiveMu() {
  static std::mutex mu;
  return mu;
}
std::set<Session*>& Live() {
  static std::set<Session*> live;
  return live;
}

std::string LocalTime(int64_t ns) {
  const time_t t = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  char buf[32];
  localtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string_view SessionKindName(SessionKind k) {
  return k == SessionKind::kMaintenance ? "maintenance" : "writer";
}

std::string_view SessionStateName(SessionState s) {
  switch (s) {
    case SessionState::kRunning:
      return "running";
    case SessionState::kGone:
      return "gone";
    case SessionState::kElsewhere:
      return "elsewhere";
    case SessionState::kExpired:
      return "expired";
    case SessionState::kUnreadable:
      return "unreadable";
  }
  return "unknown";
}

Bytes EncodeSessionPayload(const SessionRecord& r) {
  Bytes out;
  ByteWriter w(&out);
  w.U8(kSessionVersion);
  w.Raw(r.session.span());
  w.U8(static_cast<uint8_t>(r.kind));
  w.String(r.command);
  w.String(r.username);
  w.String(r.process.hostname);
  w.String(r.process.machine_id);
  w.String(r.process.boot_id);
  w.U64(r.process.pid_namespace);
  w.U32(r.process.pid);
  w.U64(r.process.start_ticks);
  w.U64(static_cast<uint64_t>(r.started_ns));
  w.U64(static_cast<uint64_t>(r.refreshed_ns));
  w.U32(static_cast<uint32_t>(r.parents.size()));
  for (const Id& id : r.parents) w.Raw(id.span());
  return out;
}

Result<SessionRecord> DecodeSessionPayload(ByteSpan payload, const std::string& what) {
  ByteReader r(payload);
  SessionRecord s;
  uint8_t version, kind;
  uint64_t started, refreshed;
  uint32_t parents;
  ByteSpan b;
  if (!r.U8(&version)) return Status::Corruption(what + ": empty");
  if (version > kSessionVersion) {
    return Status::UnsupportedVersion(what + ": session version " + std::to_string(version) +
                                      " is newer than this repo binary supports; upgrade repo");
  }
  bool ok = version != 0 && r.Raw(Id::kSize, &b);
  if (ok) s.session = Id::FromSpan(b);
  ok = ok && r.U8(&kind) && (kind == 1 || kind == 2) && r.String(&s.command) &&
       r.String(&s.username) && r.String(&s.process.hostname) && r.String(&s.process.machine_id) &&
       r.String(&s.process.boot_id) && r.U64(&s.process.pid_namespace) && r.U32(&s.process.pid) &&
       r.U64(&s.process.start_ticks) && r.U64(&started) && r.U64(&refreshed) && r.U32(&parents) &&
       parents <= r.remaining() / Id::kSize;
  if (ok) {
    s.kind = static_cast<SessionKind>(kind);
    s.parents.resize(parents);
    for (Id& id : s.parents) {
      ok = ok && r.Raw(Id::kSize, &b);
      if (ok) id = Id::FromSpan(b);
    }
  }
  if (!ok || !r.done()) return Status::Corruption(what + ": malformed session record");
  s.started_ns = static_cast<int64_t>(started);
  s.refreshed_ns = static_cast<int64_t>(refreshed);
  return s;
}

Result<Id> WriteSessionRecord(const MetadataStore& metadata, const SessionRecord& r) {
  return metadata.Save(FileType::kSession, ObjectKind::kSession, EncodeSessionPayload(r));
}

Result<std::vector<SessionInfo>> ListSessions(
    Repository& repo, std::optional<std::chrono::seconds> assume_dead_after) {
  const MetadataStore metadata = repo.metadata();
  ASSIGN_OR_RETURN(auto files, repo.backend().List(FileType::kSession));
  std::map<Id, SessionInfo> by_session;
  std::vector<SessionInfo> unreadable;
  for (const FileInfo& f : files) {
    auto file = Id::ParseHex(f.name);
    if (!file) continue;
    const std::string what = MetadataStore::Describe(FileType::kSession, *file);
    auto payload = metadata.Load(FileType::kSession, ObjectKind::kSession, *file);
    Result<SessionRecord> record = payload.ok() ? DecodeSessionPayload(*payload, what)
                                                : Result<SessionRecord>(payload.status());
    if (!record.ok()) {
      if (record.status().IsNotFound()) continue;  // refreshed or ended while listing
      if (record.status().code() != StatusCode::kCorruption &&
          record.status().code() != StatusCode::kUnsupportedVersion) {
        return record.status();
      }
      SessionInfo u;
      u.record.session = *file;
      u.files = {*file};
      u.state = SessionState::kUnreadable;
      unreadable.push_back(std::move(u));
      continue;
    }
    SessionInfo& s = by_session[record->session];
    s.files.push_back(*file);
    if (s.files.size() == 1 || record->refreshed_ns > s.record.refreshed_ns) {
      s.record = std::move(record).value();
    }
  }
  std::vector<SessionInfo> out;
  const int64_t now = NowNs();
  for (auto& [id, s] : by_session) {
    switch (LocalProcessState(s.record.process)) {
      case ProcessState::kRunning:
        s.state = SessionState::kRunning;
        break;
      case ProcessState::kGone:
        s.state = SessionState::kGone;
        break;
      case ProcessState::kUnknown:
        s.state = assume_dead_after && now - s.record.refreshed_ns >
                                           std::chrono::nanoseconds(*assume_dead_after).count()
                      ? SessionState::kExpired
                      : SessionState::kElsewhere;
        break;
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return a.record.started_ns < b.record.started_ns;
  });
  for (auto& u : unreadable) out.push_back(std::move(u));
  return out;
}

Status RemoveSession(Repository& repo, const SessionInfo& s) {
  for (const Id& f : s.files) {
    Status d = repo.backend().Delete({FileType::kSession, f.Hex()});
    if (!d.ok() && !d.IsNotFound()) {
      return d.WithContext("removing " + MetadataStore::Describe(FileType::kSession, f));
    }
  }
  return Status::OK();
}

std::string DescribeSession(const SessionInfo& s) {
  if (s.state == SessionState::kUnreadable) {
    return "unreadable session record " + s.record.session.ShortHex();
  }
  const SessionRecord& r = s.record;
  return "session " + r.session.ShortHex() + " (repo " + r.command + ", pid " +
         std::to_string(r.process.pid) + " on " + r.process.hostname + ", started " +
         LocalTime(r.started_ns) + ")";
}

Session::Session(Repository& repo, SessionRecord record, SessionOptions options)
    : repo_(repo), options_(std::move(options)), record_(std::move(record)) {}

Result<std::unique_ptr<Session>> Session::Begin(Repository& repo, SessionKind kind,
                                                std::string command, std::vector<Id> parents,
                                                SessionOptions options) {
  ASSIGN_OR_RETURN(auto listed, ListSessions(repo, options.assume_dead_after));
  for (const SessionInfo& s : listed) {
    if (!SessionCountsAsDead(s.state)) continue;
    RETURN_IF_ERROR(RemoveSession(repo, s));
    if (options.note) {
      options.note("removed stale " + DescribeSession(s) + ": " +
                   (s.state == SessionState::kGone ? "its process is gone"
                                                   : "not refreshed within --assume-dead-after"));
    }
  }
  SessionRecord r;
  const SecretBytes random = SecretBytes::Random(Id::kSize);
  r.session = Id::FromSpan(random.span());
  r.kind = kind;
  r.command = std::move(command);
  r.username = UserName(static_cast<uint32_t>(getuid()));
  r.process = SelfIdentity();
  r.started_ns = NowNs();
  r.parents = std::move(parents);
  std::unique_ptr<Session> session(new Session(repo, std::move(r), std::move(options)));
  {
    std::lock_guard<std::mutex> lock(session->mu_);
    RETURN_IF_ERROR(session->WriteCopyLocked());
  }
  if (kind == SessionKind::kMaintenance) {
    // Written first, then listed: of two maintenance commands starting at once, at least one
    // sees the other (and both may back off, which is safe).
    ASSIGN_OR_RETURN(auto now, ListSessions(repo, session->options_.assume_dead_after));
    for (const SessionInfo& s : now) {
      if (s.record.session == session->id() || SessionCountsAsDead(s.state)) continue;
      if (s.state != SessionState::kUnreadable && s.record.kind != SessionKind::kMaintenance) {
        continue;
      }
      (void)session->End();
      return Status::Locked(
          DescribeSession(s) +
          (s.state == SessionState::kUnreadable ? " may be a maintenance command"
                                                : " is a maintenance command") +
          " still running; wait for it to end, or if it is dead run `repo unlock " +
          s.record.session.ShortHex() + "`");
    }
  }
  {
    std::lock_guard<std::mutex> lock(LiveMu());
    Live().insert(session.get());
  }
  session->refresher_ = std::thread([s = session.get()] { s->RefreshLoop(); });
  return session;
}

Session::~Session() { (void)End(); }

Status Session::WriteCopyLocked() {
  record_.refreshed_ns = NowNs();
  ASSIGN_OR_RETURN(Id written, WriteSessionRecord(repo_.metadata(), record_));
  if (file_ && *file_ != written) {
    Status d = repo_.backend().Delete({FileType::kSession, file_->Hex()});
    if (!d.ok() && !d.IsNotFound()) {
      file_ = written;
      return d.WithContext("removing the previous copy of session " + record_.session.ShortHex());
    }
  }
  file_ = written;
  return Status::OK();
}

void Session::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!ending_) {
    if (stop_.wait_for(lock, options_.refresh_interval, [&] { return ending_; })) break;
    if (!lost_.ok() || !file_) continue;
    // Removed by someone else (`repo unlock`): do not bring it back; CheckIntact reports it.
    auto there = repo_.backend().Stat({FileType::kSession, file_->Hex()});
    if (!there.ok() && there.status().IsNotFound()) {
      lost_ = Status::Aborted("session " + record_.session.ShortHex() +
                              " was removed by another command (repo unlock); not committing");
      continue;
    }
    // A failed refresh is retried at the next interval; the previous copy stays meanwhile.
    (void)WriteCopyLocked();
  }
}

Status Session::CheckIntact() {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(lost_);
  if (!file_) return Status::Aborted("session " + record_.session.ShortHex() + " has ended");
  auto there = repo_.backend().Stat({FileType::kSession, file_->Hex()});
  if (there.ok()) return Status::OK();
  if (!there.status().IsNotFound()) return there.status();
  lost_ = Status::Aborted("session " + record_.session.ShortHex() +
                          " was removed by another command (repo unlock); not committing");
  return lost_;
}

Status Session::End() {
  {
    std::lock_guard<std::mutex> lock(LiveMu());
    Live().erase(this);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ending_ = true;
  }
  stop_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (!file_) return Status::OK();
  Status d = repo_.backend().Delete({FileType::kSession, file_->Hex()});
  file_.reset();
  if (!d.ok() && !d.IsNotFound()) {
    return d.WithContext("removing session record " + record_.session.ShortHex());
  }
  return Status::OK();
}

void Session::EndAllForExit() {
  std::lock_guard<std::mutex> lock(LiveMu());
  for (Session* s : Live()) {
    std::lock_guard<std::mutex> own(s->mu_);
    s->ending_ = true;  // the refresh thread writes no copy after this one is gone
    if (s->file_) (void)s->repo_.backend().Delete({FileType::kSession, s->file_->Hex()});
    s->file_.reset();
  }
}

}  // namespace repo
