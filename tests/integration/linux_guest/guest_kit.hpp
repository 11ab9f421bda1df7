// What booting a real Linux guest against pvsim's vhost-user-blk device
// takes, found where Debian 12's packages install it (scripts/install-deps.sh
// lists them): QEMU (qemu-system-x86), a kernel whose virtio drivers are
// loadable modules (linux-image-cloud-amd64: CONFIG_VIRTIO_PCI=m,
// CONFIG_VIRTIO_BLK=m), a static busybox for the initramfs's userland
// (busybox-static), and gzip. Anything missing is an error naming the
// package: the Linux-guest tests fail without them rather than skip.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace pvsim::test {

// The virtio modules in the order they load: each one's `modinfo -F
// depends` loaded before it (virtio needs virtio_ring; virtio_pci needs
// virtio, virtio_ring and both PCI transport libraries; virtio_blk needs
// virtio and virtio_ring).
inline const std::vector<std::string>& virtio_blk_modules() {
    static const std::vector<std::string> modules = {
        "drivers/virtio/virtio_ring.ko",
        "drivers/virtio/virtio.ko",
        "drivers/virtio/virtio_pci_modern_dev.ko",
        "drivers/virtio/virtio_pci_legacy_dev.ko",
        "drivers/virtio/virtio_pci.ko",
        "drivers/block/virtio_blk.ko",
    };
    return modules;
}

struct GuestKit {
    std::filesystem::path qemu;     // qemu-system-x86_64
    std::filesystem::path kernel;   // /boot/vmlinuz-<version>
    std::filesystem::path modules;  // /lib/modules/<version>/kernel
    std::filesystem::path busybox;  // static
    std::filesystem::path gzip;
};

inline std::filesystem::path first_executable(const std::vector<std::filesystem::path>& paths,
                                              const std::string& package) {
    for (const auto& path : paths) {
        if (::access(path.c_str(), X_OK) == 0) {
            return path;
        }
    }
    throw std::runtime_error(paths.front().string() + " is missing: install the Debian package " +
                             package + " (make deps does)");
}

// The newest /boot/vmlinuz-*-cloud-amd64 whose virtio modules are all in
// /lib/modules/<version>.
inline GuestKit find_guest_kit() {
    GuestKit kit;
    kit.qemu = first_executable({"/usr/bin/qemu-system-x86_64"}, "qemu-system-x86");
    kit.busybox = first_executable({"/bin/busybox", "/usr/bin/busybox"}, "busybox-static");
    kit.gzip = first_executable({"/usr/bin/gzip", "/bin/gzip"}, "gzip");
    std::vector<std::string> versions;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/boot", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("vmlinuz-") && name.ends_with("-cloud-amd64")) {
            versions.push_back(name.substr(std::string("vmlinuz-").size()));
        }
    }
    std::sort(versions.rbegin(), versions.rend());
    for (const auto& version : versions) {
        const std::filesystem::path modules = "/lib/modules/" + version + "/kernel";
        if (std::all_of(
                virtio_blk_modules().begin(), virtio_blk_modules().end(),
                [&](const std::string& m) { return std::filesystem::exists(modules / m); })) {
            kit.kernel = "/boot/vmlinuz-" + version;
            kit.modules = modules;
            return kit;
        }
    }
    throw std::runtime_error(
        "no /boot/vmlinuz-*-cloud-amd64 with its virtio modules (virtio_pci.ko, virtio_blk.ko) "
        "in /lib/modules: install the Debian package linux-image-cloud-amd64 (make deps does)");
}

}  // namespace pvsim::test
