#include "repo/storage/location.h"

#include "repo/storage/local_backend.h"

namespace repo {
namespace {

// Every non-empty location is a local path for now. A scheme ("s3:") will be recognised here;
// like restic, a location matching no known scheme stays a path.
Status CheckLocation(const std::string& location) {
  if (location.empty()) return Status::InvalidArgument("empty repository location");
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Backend>> OpenLocation(const std::string& location) {
  RETURN_IF_ERROR(CheckLocation(location));
  ASSIGN_OR_RETURN(auto local, LocalBackend::Open(location));
  return std::unique_ptr<Backend>(std::move(local));
}

Result<std::unique_ptr<Backend>> CreateLocation(const std::string& location) {
  RETURN_IF_ERROR(CheckLocation(location));
  ASSIGN_OR_RETURN(auto local, LocalBackend::Create(location));
  return std::unique_ptr<Backend>(std::move(local));
}

}  // namespace repo
