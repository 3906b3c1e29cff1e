// Repository locations: the string a user gives with -r/--repo or REPO_REPOSITORY, turned into
// the Backend that serves it. The one place that knows which Backend a location means, so that
// no front door (cli/, fuse/) constructs one itself. Today a location is a local directory path;
// an "s3:..." location (a later issue) is added here and nowhere else.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "repo/storage/backend.h"

namespace repo {

// The backend of the existing repository at `location`. NotFound if there is none there (a local
// directory without a config file); InvalidArgument for an empty location or one this build
// cannot serve.
Result<std::unique_ptr<Backend>> OpenLocation(const std::string& location);

// Makes the layout of a new repository at `location` and returns its backend. AlreadyExists if
// something is there already (a local directory must be absent or empty); InvalidArgument as for
// OpenLocation.
Result<std::unique_ptr<Backend>> CreateLocation(const std::string& location);

}  // namespace repo
