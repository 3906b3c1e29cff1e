// WarningSink: how the engine reports a problem that does not stop what it is doing (a file that
// cannot be read during a snapshot, metadata that cannot be applied during a restore, a key file
// that does not open, an index cache rebuilt). The operation goes on; the front door decides how
// to show the message (cli/ prints "repo: warning: ..." unless -q). The engine never logs on its
// own: every library below cli/ reports through the sink its caller gives it.
#pragma once

#include <functional>
#include <string>

namespace repo {

// Takes one message: a single line naming what failed, without "repo:" or a trailing newline.
// May be called from any thread at once, so it must be thread-safe. An empty sink drops
// messages.
using WarningSink = std::function<void(const std::string& message)>;

}  // namespace repo
