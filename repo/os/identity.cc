#include "repo/os/identity.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
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

// Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 if there is no such
// process. The command name (field 2) may hold spaces and parentheses, so fields are counted
// from its closing parenthesis.
uint64_t StartTicks(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {  // field 3 (state) is the first after ')'
    if (!(fields >> field)) return 0;
  }
  try {
    return std::stoull(field);
  } catch (...) {
    return 0;
  }
}

uint64_t PidNamespace() {
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
    p.start_ticks = StartTicks(p.pid);
    return p;
  }();
  return self;
}

ProcessState LocalProcessState(const ProcessIdentity& p) {
  const ProcessIdentity& self = SelfIdentity();
  if (!self.boot_id.empty() && p.boot_id == self.boot_id) {
    // The same running kernel (boot ids are random per boot): this host, or a container on it,
    // which only the pid namespace tells apart.
    if (self.pid_namespace == 0 || p.pid_namespace != self.pid_namespace || p.start_ticks == 0) {
      return ProcessState::kUnknown;
    }
    return StartTicks(p.pid) == p.start_ticks ? ProcessState::kRunning : ProcessState::kGone;
  }
  // Another boot: of this host, which has rebooted since, only if its machine id and name say
  // so; otherwise another host.
  if (!p.boot_id.empty() && !self.machine_id.empty() && p.machine_id == self.machine_id &&
      p.hostname == self.hostname) {
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
