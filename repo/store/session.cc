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

namespace {

// A copy of locks/ as read: a record, or why it does not open (Corruption, UnsupportedVersion).
using Loaded = Result<SessionRecord>;

// Loads the copy `file` into *loaded unless it was loaded before (files are immutable). Sets
// *vanished if it was gone by the time it was read (refreshed or ended meanwhile).
Status LoadCopy(Repository& repo, const Id& file, std::map<Id, Loaded>* loaded, bool* vanished) {
  if (loaded->count(file)) return Status::OK();
  const std::string what = MetadataStore::Describe(FileType::kSession, file);
  auto payload = repo.metadata().Load(FileType::kSession, ObjectKind::kSession, file);
  Loaded record = payload.ok() ? DecodeSessionPayload(*payload, what) : Loaded(payload.status());
  if (!record.ok() && record.status().code() != StatusCode::kCorruption &&
      record.status().code() != StatusCode::kUnsupportedVersion) {
    // Gone (NotFound, or what a network filesystem says of a file deleted under it), else an
    // error of the storage, not of the record.
    auto there = repo.backend().Stat({FileType::kSession, file.Hex()});
    if (record.status().IsNotFound() || (!there.ok() && there.status().IsNotFound())) {
      *vanished = true;
      return Status::OK();
    }
    return record.status();
  }
  loaded->emplace(file, std::move(record));
  return Status::OK();
}

// The sessions of the copies `files`, judged.
std::vector<SessionInfo> Judge(const std::vector<Id>& files, const std::map<Id, Loaded>& loaded,
                               std::optional<std::chrono::seconds> assume_dead_after) {
  std::map<Id, SessionInfo> by_session;
  std::vector<SessionInfo> unreadable;
  for (const Id& file : files) {
    auto it = loaded.find(file);
    if (it == loaded.end()) continue;  // vanished
    if (!it->second.ok()) {
      // Damaged or of a newer version: a live session of unknown kind (it blocks maintenance,
      // never a writer) until `repo unlock` removes it.
      SessionInfo u;
      u.record.session = file;
      u.files = {file};
      u.state = SessionState::kUnreadable;
      unreadable.push_back(std::move(u));
      continue;
    }
    const SessionRecord& record = *it->second;
    SessionInfo& s = by_session[record.session];
    s.files.push_back(file);
    if (s.files.size() == 1 || record.refreshed_ns > s.record.refreshed_ns) s.record = record;
  }
  std::vector<SessionInfo> out;
  const int64_t now = NowNs();
  for (auto& [id, s] : by_session) {
    switch (LocalProcessState(s.record.process, s.record.refreshed_ns)) {
      case ProcessState::kRunning:
        s.state = SessionState::kRunning;
        break;
      case ProcessState::kGone:
        s.state = SessionState::kGone;
        break;
      case ProcessState::kUnknown:
        // In seconds: a duration of any length compares without overflow.
        s.state = assume_dead_after &&
                          (now - s.record.refreshed_ns) / 1000000000 > assume_dead_after->count()
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

}  // namespace

Result<std::vector<SessionInfo>> ListSessions(
    Repository& repo, std::optional<std::chrono::seconds> assume_dead_after) {
  // A refresh writes a new copy, then deletes the old one. A listing may miss a session being
  // refreshed: it reads the old copy after its deletion, or (a listing that is not atomic) the
  // new copy lands behind its cursor and the old one goes before the cursor reaches it. The next
  // listing, started after the new copy was written, sees it. So the listing is repeated until
  // two in a row name the same copies and none vanished: then every session registered before
  // the call is in the answer, unless it was refreshed twice during two listings (a listing
  // would have to take minutes). Copies are loaded once across the repeats.
  std::map<Id, Loaded> loaded;
  std::vector<Id> previous;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(auto listed, repo.backend().List(FileType::kSession));
    std::vector<Id> files;
    bool vanished = false;
    for (const FileInfo& f : listed) {
      auto file = Id::ParseHex(f.name);
      if (!file) continue;
      RETURN_IF_ERROR(LoadCopy(repo, *file, &loaded, &vanished));
      files.push_back(*file);
    }
    std::sort(files.begin(), files.end());
    if (!vanished && attempt > 1 && files == previous) {
      return Judge(files, loaded, assume_dead_after);
    }
    if (attempt == 20) {
      return Status::Transient("session records kept changing while listed 20 times; try again");
    }
    if (vanished) std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
    previous = std::move(files);
  }
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
  // Clearing stale sessions is a courtesy for a writer: one that cannot list goes on without it.
  auto listing = ListSessions(repo, options.assume_dead_after);
  if (!listing.ok() && kind == SessionKind::kMaintenance) return listing.status();
  if (!listing.ok() && options.note) {
    options.note("stale sessions not cleared: " + listing.status().message());
  }
  const std::vector<SessionInfo> listed =
      listing.ok() ? std::move(listing).value() : std::vector<SessionInfo>{};
  for (const SessionInfo& s : listed) {
    if (!SessionCountsAsDead(s.state)) continue;
    // Someone else's leftovers: failing to clear them never stops this command.
    Status removed = RemoveSession(repo, s);
    if (options.note) {
      options.note(!removed.ok()
                       ? "could not remove stale " + DescribeSession(s) + ": " + removed.message()
                       : "removed stale " + DescribeSession(s) + ": " +
                             (s.state == SessionState::kGone
                                  ? "its process is gone"
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
    // Known to EndAllForExit before its first copy exists, so that a signal never leaves one.
    std::lock_guard<std::mutex> live(LiveMu());
    Live().insert(session.get());
  }
  RETURN_IF_ERROR(session->Refresh());
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
  session->refresher_ = std::thread([s = session.get()] { s->RefreshLoop(); });
  return session;
}

Session::~Session() {
  // What the command did is done; a record left behind is removed by the next command on this
  // host (its process is gone), but is said, not kept quiet.
  Status ended = End();
  if (!ended.ok() && options_.note) options_.note(ended.message());
}

Status Session::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(lost_);
  if (ending_) return Status::OK();
  record_.refreshed_ns = NowNs();
  ASSIGN_OR_RETURN(Id written, WriteSessionRecord(repo_.metadata(), record_));
  if (!file_ || *file_ == written) {
    file_ = written;
    return Status::OK();
  }
  const Id previous = *file_;
  file_ = written;
  Status d = repo_.backend().Delete({FileType::kSession, previous.Hex()});
  if (d.IsNotFound()) {
    // Someone removed this session (`repo unlock`, or a command that judged it dead) since the
    // last copy: it stays removed, and the copy just written goes too.
    lost_ = Status::Aborted("session " + record_.session.ShortHex() +
                            " was removed by another command (repo unlock); not committing");
    Status gone = repo_.backend().Delete({FileType::kSession, written.Hex()});
    if (!gone.ok() && !gone.IsNotFound()) leftovers_.push_back(written);  // End tries again
    file_.reset();
    return lost_;
  }
  if (!d.ok()) leftovers_.push_back(previous);  // End tries again
  return Status::OK();
}

void Session::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!ending_) {
    if (stop_.wait_for(lock, options_.refresh_interval, [&] { return ending_; })) break;
    if (!lost_.ok()) continue;
    lock.unlock();
    // A failed refresh is tried again at the next interval; the previous copy stays meanwhile.
    (void)Refresh();
    lock.lock();
  }
}

Status Session::CheckIntactLocked() {
  RETURN_IF_ERROR(lost_);
  if (!file_) return Status::Aborted("session " + record_.session.ShortHex() + " has ended");
  auto there = repo_.backend().Stat({FileType::kSession, file_->Hex()});
  if (there.ok()) return Status::OK();
  if (!there.status().IsNotFound()) return there.status();
  lost_ = Status::Aborted("session " + record_.session.ShortHex() +
                          " was removed by another command (repo unlock); not committing");
  return lost_;
}

Status Session::CheckIntact() {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckIntactLocked();
}

Status Session::Commit(const std::function<Status()>& commit) {
  // Under the lock: EndAllForExit (a signal) waits for the commit, so the record is never
  // removed while what it protects is being made visible.
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckIntactLocked());
  return commit();
}

Status Session::End() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ending_ = true;
  }
  stop_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  Status result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_) leftovers_.push_back(*file_);
    file_.reset();
    for (const Id& f : leftovers_) {
      Status d = repo_.backend().Delete({FileType::kSession, f.Hex()});
      if (!d.ok() && !d.IsNotFound() && result.ok()) {
        result = d.WithContext("removing session record " + record_.session.ShortHex());
      }
    }
    leftovers_.clear();
  }
  // Known to EndAllForExit until its copies are gone.
  std::lock_guard<std::mutex> live(LiveMu());
  Live().erase(this);
  return result;
}

void Session::EndAllForExit() {
  std::lock_guard<std::mutex> lock(LiveMu());
  for (Session* s : Live()) {
    std::lock_guard<std::mutex> own(s->mu_);
    s->ending_ = true;  // the refresh thread writes no copy after these are gone
    if (s->file_) s->leftovers_.push_back(*s->file_);
    s->file_.reset();
    for (const Id& f : s->leftovers_) {
      (void)s->repo_.backend().Delete({FileType::kSession, f.Hex()});
    }
    s->leftovers_.clear();
  }
}

}  // namespace repo
