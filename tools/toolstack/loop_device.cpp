#include "tools/toolstack/loop_device.hpp"

#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>

#include "common/os/unique_fd.hpp"

namespace pvsim::tools::toolstack {
namespace loop_device {

// drivers/block/loop.c registers block major 7 (LOOP_MAJOR).
constexpr unsigned kLoopMajor = 7;
// Devices taken by another process between LOOP_CTL_GET_FREE and the bind
// before pvsim gives up (losetup retries the same way).
constexpr int kAttempts = 16;

os::UniqueFd open_or_throw(const std::filesystem::path& path, int flags) {
    os::UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd) {
        os::throw_system_error("open " + path.string());
    }
    return fd;
}

// /dev/loopN, made when no udev made it.
std::filesystem::path device_node(int number) {
    const std::filesystem::path path = "/dev/loop" + std::to_string(number);
    const dev_t rdev = ::makedev(kLoopMajor, static_cast<unsigned>(number));
    if (::mknod(path.c_str(), S_IFBLK | 0600, rdev) != 0 && errno != EEXIST) {
        os::throw_system_error("mknod " + path.string());
    }
    return path;
}

// LOOP_CONFIGURE, or LOOP_SET_FD on a kernel without it. False when the
// device was taken meanwhile.
bool bind(const os::UniqueFd& device, const os::UniqueFd& file,
          const std::filesystem::path& file_path, bool read_only) {
    loop_config config{};
    config.fd = static_cast<__u32>(file.get());
    config.info.lo_flags = read_only ? LO_FLAGS_READ_ONLY : 0;
    std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), file_path.c_str(),
                 LO_NAME_SIZE - 1);
    if (::ioctl(device.get(), LOOP_CONFIGURE, &config) == 0) {
        return true;
    }
    if (errno == EBUSY) {
        return false;
    }
    if (errno != EINVAL && errno != ENOTTY) {
        os::throw_system_error("LOOP_CONFIGURE " + file_path.string());
    }
    // The file's open mode makes the device read-only or not.
    if (::ioctl(device.get(), LOOP_SET_FD, file.get()) == 0) {
        return true;
    }
    if (errno == EBUSY) {
        return false;
    }
    os::throw_system_error("LOOP_SET_FD " + file_path.string());
}

}  // namespace loop_device

LoopDevice LoopDevice::attach(const std::filesystem::path& file, bool read_only) {
    const os::UniqueFd backing = loop_device::open_or_throw(file, read_only ? O_RDONLY : O_RDWR);
    const os::UniqueFd control = loop_device::open_or_throw("/dev/loop-control", O_RDWR);
    for (int attempt = 0; attempt < loop_device::kAttempts; ++attempt) {
        const int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
        if (number < 0) {
            os::throw_system_error("LOOP_CTL_GET_FREE /dev/loop-control");
        }
        const std::filesystem::path path = loop_device::device_node(number);
        const os::UniqueFd device = loop_device::open_or_throw(path, read_only ? O_RDONLY : O_RDWR);
        if (loop_device::bind(device, backing, file, read_only)) {
            return LoopDevice(path,
                              ::makedev(loop_device::kLoopMajor, static_cast<unsigned>(number)));
        }
    }
    os::throw_system_error("binding a loop device to " + file.string(), EBUSY);
}

LoopDevice::LoopDevice(LoopDevice&& other) noexcept
    : path_(std::exchange(other.path_, {})), rdev_(other.rdev_) {}

LoopDevice::~LoopDevice() {
    if (path_.empty()) {
        return;
    }
    try {
        detach_loop_device(path_);
    } catch (const std::exception& e) {
        std::cerr << "pvsim: removing " << path_.string() << ": " << e.what() << '\n';
    }
}

void refresh_loop_capacity(const std::filesystem::path& device) {
    const os::UniqueFd fd = loop_device::open_or_throw(device, O_RDONLY);
    if (::ioctl(fd.get(), LOOP_SET_CAPACITY, 0) != 0) {
        os::throw_system_error("LOOP_SET_CAPACITY " + device.string());
    }
}

void detach_loop_device(const std::filesystem::path& device) {
    const os::UniqueFd fd = loop_device::open_or_throw(device, O_RDONLY);
    if (::ioctl(fd.get(), LOOP_CLR_FD, 0) != 0 && errno != ENXIO) {
        os::throw_system_error("LOOP_CLR_FD " + device.string());
    }
}

}  // namespace pvsim::tools::toolstack
