// Who and where we are: this host's name and the names behind user and group ids. Later also
// what identifies a process across hosts and reboots (boot id, pid namespace), for sessions.
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

}  // namespace repo
