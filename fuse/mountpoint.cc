#include "fuse/mountpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace repo::mount {

Status CheckFuseDevice() {
  const int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    close(fd);
    return Status::OK();
  }
  if (errno == ENOENT) {
    return Status::IOError(
        "/dev/fuse is missing: load the fuse module (modprobe fuse), or give the container the "
        "device (docker run --device /dev/fuse --cap-add SYS_ADMIN)");
  }
  return Status::IOError(std::string("cannot open /dev/fuse: ") + std::strerror(errno) +
                         " (is the user allowed to mount FUSE filesystems?)");
}

Status CheckMountpoint(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Status::InvalidArgument("mountpoint " + path + " does not exist: create it first");
    }
    if (err == ENOTCONN) {
      return Status::InvalidArgument("mountpoint " + path +
                                     " is busy: the mount there lost its process; unmount it "
                                     "with fusermount3 -u " +
                                     path);
    }
    return Status::InvalidArgument("mountpoint " + path + ": " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("mountpoint " + path + " is not a directory");
  }
  struct stat up;
  if (stat((path + "/..").c_str(), &up) == 0 &&
      (up.st_dev != st.st_dev || up.st_ino == st.st_ino)) {
    return Status::InvalidArgument("mountpoint " + path +
                                   " is busy: something is mounted there already (unmount it "
                                   "first, e.g. fusermount3 -u " +
                                   path + ")");
  }
  DIR* d = opendir(path.c_str());
  if (!d) {
    return Status::InvalidArgument("mountpoint " + path + ": " + std::strerror(errno));
  }
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  if (!empty) {
    return Status::InvalidArgument("mountpoint " + path +
                                   " is not empty: mount on an empty directory");
  }
  return Status::OK();
}

}  // namespace repo::mount
