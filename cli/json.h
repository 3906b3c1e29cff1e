// A minimal JSON writer for --json output: objects and arrays built in order, strings escaped.
// Strings are bytes (file names): well-formed UTF-8 is written as it is, and each other byte XX
// as the lone surrogate \udcXX (Python's "surrogateescape"), so output is always valid JSON text
// and a name's bytes can be recovered exactly (docs/cli.md, "--json").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace repo::cli {

std::string JsonQuote(std::string_view s);

class JsonObject {
 public:
  JsonObject& Str(std::string_view key, std::string_view value);
  JsonObject& Int(std::string_view key, int64_t value);
  JsonObject& Bool(std::string_view key, bool value);
  // `raw` must already be valid JSON (an object or array built here).
  JsonObject& Raw(std::string_view key, std::string_view raw);
  std::string Build() const { return "{" + body_ + "}"; }

 private:
  void Key(std::string_view key);
  std::string body_;
};

// "[a,b,...]" of already-built JSON values.
std::string JsonArray(const std::vector<std::string>& items);

}  // namespace repo::cli
