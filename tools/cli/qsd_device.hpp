// qemu-storage-daemon as a vhost-user-blk device for `pvsim bench`'s
// virtio-qsd path (DESIGN.md §6): QEMU's own device on the bench's image,
// so the virtio-blk driver's figures can be read against a back end no one
// here wrote. Started with a raw blockdev and a vhost-user-blk export
// (docs/tools/qemu-storage-daemon.rst), stopped (SIGTERM, then SIGKILL) when
// the object goes.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "common/os/child_process.hpp"

namespace pvsim::tools::cli {

class QsdDevice {
  public:
    // Exports `image` (read-write) on `socket`, logging to `log`; returns
    // once the socket exists. Throws CommandError when qemu-storage-daemon
    // is not installed (naming the package qemu-system-common) or does not
    // start (with its log). It runs on `cpus` when given (dom0's: QEMU's
    // device model is a dom0 process).
    QsdDevice(const std::filesystem::path& image, const std::filesystem::path& socket,
              const std::filesystem::path& log,
              const std::optional<os::CpuList>& cpus = std::nullopt);
    ~QsdDevice();
    QsdDevice(const QsdDevice&) = delete;
    QsdDevice& operator=(const QsdDevice&) = delete;

    const std::filesystem::path& socket() const noexcept { return socket_; }

  private:
    void stop() noexcept;

    std::filesystem::path socket_;
    pid_t pid_ = -1;
};

// Where qemu-storage-daemon is ($PATH searched), nullopt when not installed.
std::optional<std::filesystem::path> find_qemu_storage_daemon();

}  // namespace pvsim::tools::cli
