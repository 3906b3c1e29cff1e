#include "repo/os/identity.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

namespace repo {
namespace {

// Owner lookups go through NSS (by default: open and parse /etc/passwd each time), so each
// answer is remembered for the process: a snapshot or restore asks for the same few owners once
// per file.
template <typename K, typename V, typename Lookup>
V Cached(std::mutex& mu, std::map<K, V>& cache, const K& key, Lookup lookup) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  V value = lookup(key);
  cache.emplace(key, value);
  return value;
}

// The first line of a small file, without surrounding white space ("" if unreadable).
std::string FirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const size_t b = line.find_first_not_of(" \t\r");
  const size_t e = line.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : line.substr(b, e - b + 1);
}

// What /proc/PID/stat says of process `pid` (of this pid namespace).
struct ProcStat {
  enum { kAbsent, kPresent, kUnreadable } what = kUnreadable;
  uint64_t start_ticks = 0;  // field 22: start time in clock ticks since boot
};

ProcStat ReadProcStat(uint32_t pid) {
  ProcStat out;
  // kill(pid, 0) answers whatever /proc shows (hidepid=, ProtectProc=): ESRCH means no process.
  if (pid == 0 || pid > static_cast<uint32_t>(INT32_MAX) ||
      (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
    out.what = ProcStat::kAbsent;
    return out;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields are counted from its
  // closing parenthesis.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return out;  // hidden or gone meanwhile: cannot say
  std::istringstream fields(stat.substr(close + 1));
  std::string state, field;
  if (!(fields >> state)) return out;  // field 3
  for (int i = 4; i <= 22; ++i) {
    if (!(fields >> field)) return out;
  }
  try {
    out.start_ticks = std::stoull(field);
  } catch (...) {
    return out;
  }
  // A zombie (or a dying process) has done all it will do: its records are left behind.
  out.what = state == "Z" || state == "X" ? ProcStat::kAbsent : ProcStat::kPresent;
  return out;
}

// When this boot began (btime of /proc/stat, in ns since the epoch); 0 if unknown.
int64_t BootTimeNs() {
  std::ifstream in("/proc/stat");
  std::string key;
  int64_t value = 0;
  while (in >> key) {
    if (key == "btime" && (in >> value)) return value * 1000000000;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

bool IsMachineId(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The pid namespace this process's pids are in, if /proc shows that namespace: a /proc mounted
// for another one (`unshare -p` without remounting it) would answer for other processes.
uint64_t PidNamespace() {
  char self[32] = {0};
  const ssize_t n = readlink("/proc/self", self, sizeof self - 1);
  if (n <= 0 || std::string(self, static_cast<size_t>(n)) != std::to_string(getpid())) return 0;
  struct stat st;
  return stat("/proc/self/ns/pid", &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

}  // namespace

const ProcessIdentity& SelfIdentity() {
  static const ProcessIdentity self = [] {
    ProcessIdentity p;
    p.hostname = LocalHostname();
    p.machine_id = FirstLine("/etc/machine-id");
    if (p.machine_id.empty()) p.machine_id = FirstLine("/var/lib/dbus/machine-id");
    p.boot_id = FirstLine("/proc/sys/kernel/random/boot_id");
    p.pid_namespace = PidNamespace();
    p.pid = static_cast<uint32_t>(getpid());
    const ProcStat own = ReadProcStat(p.pid);
    p.start_ticks = own.what == ProcStat::kPresent ? own.start_ticks : 0;
    return p;
  }();
  return self;
}

ProcessState LocalProcessState(const ProcessIdentity& p, int64_t last_seen_ns) {
  const ProcessIdentity& self = SelfIdentity();
  if (self.boot_id.empty() || p.boot_id.empty()) return ProcessState::kUnknown;
  if (p.boot_id == self.boot_id) {
    // The same running kernel (boot ids are random per boot): this host, or a container on it,
    // which only the pid namespace tells apart.
    if (self.pid_namespace == 0 || p.pid_namespace != self.pid_namespace || p.start_ticks == 0) {
      return ProcessState::kUnknown;
    }
    const ProcStat now = ReadProcStat(p.pid);
    if (now.what == ProcStat::kAbsent) return ProcessState::kGone;
    if (now.what == ProcStat::kUnreadable) return ProcessState::kUnknown;
    return now.start_ticks == p.start_ticks ? ProcessState::kRunning : ProcessState::kGone;
  }
  // Another boot: of this host, which has rebooted since, only if its machine id (a real one,
  // not the fixed value some images ship) and name say so, and it was last seen before this boot
  // began and not within the last 15 minutes (a clone booted meanwhile would still be refreshing
  // it). The clock here can only keep a session alive, never end one.
  const int64_t booted = BootTimeNs();
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  constexpr int64_t kQuiet = 15LL * 60 * 1000000000;
  if (IsMachineId(self.machine_id) && p.machine_id == self.machine_id &&
      p.hostname == self.hostname && booted > 0 && last_seen_ns < booted &&
      now - last_seen_ns > kQuiet) {
    return ProcessState::kGone;
  }
  return ProcessState::kUnknown;
}

std::optional<uint32_t> UserId(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  return Cached(mu, cache, name, [](const std::string& n) -> std::optional<uint32_t> {
    passwd pw, *out = nullptr;
    char buf[4096];
    if (getpwnam_r(n.c_str(), &pw, buf, sizeof buf, &out) == 0 && out) return pw.pw_uid;
    return std::nullopt;
  });
}

std::optional<uint32_t> GroupId(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  return Cached(mu, cache, name, [](const std::string& n) -> std::optional<uint32_t> {
    group gr, *out = nullptr;
    char buf[4096];
    if (getgrnam_r(n.c_str(), &gr, buf, sizeof buf, &out) == 0 && out) return gr.gr_gid;
    return std::nullopt;
  });
}

std::string UserName(uint32_t uid) {
  static std::mutex mu;
  static std::map<uint32_t, std::string> cache;
  return Cached(mu, cache, uid, [](uint32_t id) {
    passwd pw, *out = nullptr;
    char buf[4096];
    return getpwuid_r(id, &pw, buf, sizeof buf, &out) == 0 && out ? std::string(pw.pw_name)
                                                                  : std::string();
  });
}

std::string GroupName(uint32_t gid) {
  static std::mutex mu;
  static std::map<uint32_t, std::string> cache;
  return Cached(mu, cache, gid, [](uint32_t id) {
    group gr, *out = nullptr;
    char buf[4096];
    return getgrgid_r(id, &gr, buf, sizeof buf, &out) == 0 && out ? std::string(gr.gr_name)
                                                                  : std::string();
  });
}

std::string LocalHostname() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace repo
