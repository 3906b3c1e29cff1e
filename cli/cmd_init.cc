// repo init: create a repository.
#include "cli/commands.h"
#include "cli/json.h"
#include "repo/storage/location.h"

namespace repo::cli {

void InitOptionsSpec(cxxopts::Options& o) {
  ChunkerParams c = ChunkerParams::Default();
  o.add_options("init")("chunk-min", "smallest chunk (bytes; K/M suffixes)",
                        cxxopts::value<std::string>()->default_value(std::to_string(c.min_size)))(
      "chunk-avg", "average chunk, a power of two",
      cxxopts::value<std::string>()->default_value(std::to_string(c.avg_size)))(
      "chunk-max", "largest chunk",
      cxxopts::value<std::string>()->default_value(std::to_string(c.max_size)))(
      "pack-size", "target pack size",
      cxxopts::value<std::string>()->default_value(
          std::to_string(RepositoryConfig::kDefaultPackSize)))(
      "compression", "zstd level 0-19 (0 = none)",
      cxxopts::value<int>()->default_value(std::to_string(RepositoryConfig::kDefaultZstdLevel)));
  AddKdfOptions(o);
}

static Result<uint32_t> Size32(const cxxopts::ParseResult& args, const std::string& name) {
  ASSIGN_OR_RETURN(uint64_t v, ParseSize(args[name].as<std::string>(), name));
  if (v > UINT32_MAX) return Status::InvalidArgument("--" + name + " is too large");
  return static_cast<uint32_t>(v);
}

int RunInit(Context& ctx) {
  const GlobalOptions& g = ctx.global;
  if (g.repo.empty())
    return Fail(Status::InvalidArgument("no repository given: use -r/--repo or REPO_REPOSITORY"));
  InitOptions opts;
  auto status = [&]() -> Status {
    ASSIGN_OR_RETURN(opts.chunker.min_size, Size32(ctx.args, "chunk-min"));
    ASSIGN_OR_RETURN(opts.chunker.avg_size, Size32(ctx.args, "chunk-avg"));
    ASSIGN_OR_RETURN(opts.chunker.max_size, Size32(ctx.args, "chunk-max"));
    ASSIGN_OR_RETURN(opts.pack_size, Size32(ctx.args, "pack-size"));
    opts.zstd_level = ctx.args["compression"].as<int>();
    ASSIGN_OR_RETURN(opts.kdf, KdfFromArgs(ctx.args));
    RepositoryConfig probe;
    probe.chunker = opts.chunker;
    probe.pack_size = opts.pack_size;
    probe.zstd_level = opts.zstd_level;
    return probe.Validate();
  }();
  if (!status.ok()) return Fail(status);
  auto password = ReadPassword(g.password, "enter password for new repository", true);
  if (!password.ok()) return Fail(password.status());
  auto backend = CreateLocation(g.repo);
  if (!backend.ok()) return Fail(backend.status());
  auto repo = Repository::Init(std::move(backend).value(), *password, opts, g.cache_dir);
  if (!repo.ok()) return Fail(repo.status());
  const RepositoryConfig& c = (*repo)->config();
  if (g.json) {
    Print(JsonObject()
              .Str("id", c.id.Hex())
              .Str("repository", g.repo)
              .Str("key", (*repo)->key_id().Hex())
              .Build());
  } else if (g.verbosity >= 0) {
    Print("created repository " + c.id.ShortHex() + " at " + g.repo);
    Print("keep the password safe: data in the repository cannot be read without it");
  }
  return kExitOk;
}

}  // namespace repo::cli
