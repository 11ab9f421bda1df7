// A loop device over an image file, as Xen's block hotplug script makes one
// for a file given to the phy backend (tools/hotplug/Linux/block, the
// `file` case: `losetup [-r] $(losetup -f) FILE`, and `losetup -d` at
// remove; Xen 4.17). pvsim talks to the loop driver directly
// (drivers/block/loop.c): LOOP_CTL_GET_FREE on /dev/loop-control, then
// LOOP_CONFIGURE (Linux 5.8+; LOOP_SET_FD before) on /dev/loopN, and
// LOOP_CLR_FD to remove it. The ioctls and not util-linux's losetup,
// because they need no program found in a $PATH that may lack sbin, give
// errno rather than text to parse, and make "find a free device and bind
// it" one retry loop instead of a race between two commands.
//
// Needs CAP_SYS_ADMIN (root) and a loop driver; where /dev/loopN has no
// node (a container without udev) the node is made (mknod, block major 7).
// A LoopDevice removes the device when it goes, unless release()d: the
// hotplug step releases it once the vbd's directory names it, and the
// remove step takes it down with detach_loop_device.
#pragma once

#include <sys/types.h>

#include <filesystem>

namespace pvsim::tools::toolstack {

class LoopDevice {
  public:
    // Binds a free loop device to `file` (read-only: LO_FLAGS_READ_ONLY).
    // Throws std::system_error naming the call and path that failed.
    static LoopDevice attach(const std::filesystem::path& file, bool read_only);

    ~LoopDevice();
    LoopDevice(LoopDevice&& other) noexcept;
    LoopDevice& operator=(LoopDevice&&) = delete;
    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;

    // /dev/loopN
    const std::filesystem::path& path() const noexcept { return path_; }
    dev_t rdev() const noexcept { return rdev_; }
    // The device outlives this object.
    void release() noexcept { path_.clear(); }

  private:
    LoopDevice(std::filesystem::path path, dev_t rdev) : path_(std::move(path)), rdev_(rdev) {}

    std::filesystem::path path_;
    dev_t rdev_ = 0;
};

// LOOP_SET_CAPACITY on `device` (`losetup -c`): a loop device keeps the
// size its file had when bound until told, so a grown image reaches blkback
// only through this. Throws std::system_error.
void refresh_loop_capacity(const std::filesystem::path& device);

// LOOP_CLR_FD on `device`. A device still open elsewhere (blkback has not
// yet let go) is cleared by the kernel when its last opener closes it
// (loop_clr_fd sets LO_FLAGS_AUTOCLEAR). Throws std::system_error; a device
// already unbound (ENXIO) is not an error.
void detach_loop_device(const std::filesystem::path& device);

}  // namespace pvsim::tools::toolstack
