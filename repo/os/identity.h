// Who and where we are: this host's name, the names behind user and group ids, and what
// identifies a process across hosts, reboots and pid namespaces (for session records).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace repo {

// The user and group names of ids ("" if none); cached, thread-safe.
std::string UserName(uint32_t uid);
std::string GroupName(uint32_t gid);

// The uid of user `name` / gid of group `name` on this system, if it has one; cached.
std::optional<uint32_t> UserId(const std::string& name);
std::optional<uint32_t> GroupId(const std::string& name);

// gethostname(2).
std::string LocalHostname();

// What tells one process apart from every other, here or on another host, without a clock: the
// host (its machine id and name: hosts cloned from one image without a new machine id are told
// apart by name), the boot (the kernel's random boot id), the pid namespace (the inode of
// /proc/self/ns/pid) and, within those, the pid and the time it started (clock ticks since boot,
// /proc/PID/stat field 22), which no later process with a reused pid shares. Empty or zero where
// the system does not say (no /etc/machine-id, no /proc).
struct ProcessIdentity {
  std::string hostname;
  std::string machine_id;  // /etc/machine-id (else /var/lib/dbus/machine-id), 32 hex digits
  std::string boot_id;     // /proc/sys/kernel/random/boot_id
  uint64_t pid_namespace = 0;
  uint32_t pid = 0;
  uint64_t start_ticks = 0;
  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

// This process's identity (read once).
const ProcessIdentity& SelfIdentity();

// Whether the process `p` still runs, as far as this host can prove it:
// * of this boot (the same boot id: the same running kernel) and pid namespace: kGone when no
//   process `p.pid` exists (kill(pid, 0) says ESRCH), it is a zombie, or it started at another
//   time than `p.start_ticks` (the pid was reused); kRunning when it is the same process; kUnknown
//   when /proc does not show it (hidepid=, ProtectProc=);
// * of another boot of this host (same machine id, a real one, and host name), last seen
//   (`last_seen_ns`, wall clock) before this boot began and more than 15 minutes ago: kGone,
//   the host rebooted since;
// * anything else (another host, another pid namespace, an identity this system cannot read):
//   kUnknown, it may be alive.
enum class ProcessState { kRunning, kGone, kUnknown };
ProcessState LocalProcessState(const ProcessIdentity& p, int64_t last_seen_ns);

}  // namespace repo
