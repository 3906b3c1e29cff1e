#include "cli/app.h"

#include <cstdio>
#include <ctime>
#include <iostream>

#include "repo/local_backend.h"

namespace repo::cli {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kWrongPassword:
      return kExitWrongPassword;
    case StatusCode::kCorruption:
      return kExitDamaged;
    case StatusCode::kUnsupportedVersion:
      return kExitTooNew;
    case StatusCode::kLocked:
      return kExitLocked;
    default:
      return kExitError;
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "repo: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

int FailOpen(const Status& s) {
  int code = Fail(s);
  return s.IsNotFound() ? kExitNoRepository : code;
}

Result<std::unique_ptr<Repository>> OpenRepository(const GlobalOptions& g) {
  if (g.repo.empty()) {
    return Status::InvalidArgument("no repository given: use -r/--repo or REPO_REPOSITORY");
  }
  ASSIGN_OR_RETURN(auto backend, LocalBackend::Open(g.repo));
  ASSIGN_OR_RETURN(SecretBytes password,
                   ReadPassword(g.password, "enter password for repository " + g.repo, false));
  return Repository::Open(std::move(backend), password, g.cache_dir);
}

void AddKdfOptions(cxxopts::Options& options) {
  KdfParams d = KdfParams::Default();
  options.add_options("key derivation")(
      "kdf-memory-kib", "Argon2id memory for the new key, in KiB",
      cxxopts::value<uint64_t>()->default_value(std::to_string(d.memlimit >> 10)))(
      "kdf-iterations", "Argon2id passes for the new key",
      cxxopts::value<uint64_t>()->default_value(std::to_string(d.opslimit)));
}

Result<KdfParams> KdfFromArgs(const cxxopts::ParseResult& args) {
  KdfParams kdf;
  kdf.memlimit = args["kdf-memory-kib"].as<uint64_t>() << 10;
  kdf.opslimit = args["kdf-iterations"].as<uint64_t>();
  RETURN_IF_ERROR(kdf.Validate());
  return kdf;
}

Result<uint64_t> ParseSize(const std::string& text, const std::string& option) {
  size_t pos = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (...) {
    return Status::InvalidArgument("--" + option + ": '" + text + "' is not a size");
  }
  std::string unit = text.substr(pos);
  int shift = unit.empty() || unit == "B" ? 0
              : (unit == "K" || unit == "KiB") ? 10
              : (unit == "M" || unit == "MiB") ? 20
              : (unit == "G" || unit == "GiB") ? 30
                                               : -1;
  if (shift < 0 || v > (UINT64_MAX >> shift)) {
    return Status::InvalidArgument("--" + option + ": '" + text +
                                   "' is not a size (use a number with K, M or G)");
  }
  return v << shift;
}

void Print(const std::string& line) { std::cout << line << '\n'; }

std::string FormatTime(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm local{};
  localtime_r(&t, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

}  // namespace repo::cli
