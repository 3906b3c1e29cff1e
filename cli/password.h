// Where passwords come from: never the command line (it shows in `ps`). In order of precedence:
// --password-file, --password-command, REPO_PASSWORD_FILE, REPO_PASSWORD_COMMAND, then a no-echo
// prompt on the terminal. docs/cli.md, "Passwords".
#pragma once

#include <string>

#include "base/status.h"
#include "crypto/secret.h"

namespace repo::cli {

struct PasswordSource {
  std::string file;     // --password-file / REPO_PASSWORD_FILE
  std::string command;  // --password-command / REPO_PASSWORD_COMMAND
};

// Reads the password. `prompt` is shown on a terminal; with `confirm` the terminal asks twice
// and fails if the two differ. InvalidArgument when no source is set and there is no terminal.
Result<SecretBytes> ReadPassword(const PasswordSource& source, const std::string& prompt,
                                 bool confirm);

}  // namespace repo::cli
