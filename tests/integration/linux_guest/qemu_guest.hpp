// A Linux guest in QEMU (TCG: these machines have no KVM) whose one disk is
// a vhost-user-blk-pci device on a vhost-user socket, as QEMU's
// docs/system/devices/vhost-user.rst sets one up: guest RAM a shared memfd
// (the back-end maps it from SET_MEM_TABLE's fds), the kernel and an
// initramfs given directly, the serial console in a file. The guest's
// /init prints its results there and powers off; -no-reboot and panic=-1
// make QEMU exit on a power-off or a panic alike.
#pragma once

#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {

struct QemuGuestOptions {
    std::filesystem::path qemu;
    std::filesystem::path kernel;
    std::filesystem::path initrd;
    std::filesystem::path socket;
    unsigned num_queues = 1;
    // The chardev's reconnect=SECONDS: QEMU connects again after the
    // back-end goes, and vhost-user-blk starts the device again on it.
    unsigned reconnect_seconds = 0;
    std::filesystem::path console;  // the serial console's file
    std::filesystem::path log;      // QEMU's own stderr and stdout
};

class QemuGuest {
  public:
    explicit QemuGuest(QemuGuestOptions options) : options_(std::move(options)) {
        os::UniqueFd log(
            ::open(options_.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!log) {
            os::throw_system_error("open " + options_.log.string());
        }
        const std::string queues = std::to_string(options_.num_queues);
        std::string chardev = "socket,id=c0,path=" + options_.socket.string();
        if (options_.reconnect_seconds != 0) {
            chardev += ",reconnect=" + std::to_string(options_.reconnect_seconds);
        }
        const std::vector<std::string> args = {"-accel",
                                               "tcg",
                                               "-smp",
                                               queues,
                                               "-m",
                                               "256M",
                                               "-object",
                                               "memory-backend-memfd,id=mem,size=256M,share=on",
                                               "-machine",
                                               "pc,memory-backend=mem",
                                               "-chardev",
                                               chardev,
                                               "-device",
                                               "vhost-user-blk-pci,chardev=c0,num-queues=" + queues,
                                               "-display",
                                               "none",
                                               "-monitor",
                                               "none",
                                               "-nodefaults",
                                               "-serial",
                                               "file:" + options_.console.string(),
                                               "-no-reboot",
                                               "-kernel",
                                               options_.kernel.string(),
                                               "-initrd",
                                               options_.initrd.string(),
                                               "-append",
                                               "console=ttyS0 quiet panic=-1"};
        os::SpawnOptions spawn;
        spawn.fds = {{log.get(), 1}, {log.get(), 2}};
        process_ = os::ChildProcess::spawn(options_.qemu, args, spawn);
    }

    // Waits for QEMU to exit (the guest powered off), at most `limit`.
    os::ExitStatus wait_for_exit(std::chrono::seconds limit) {
        std::optional<os::ExitStatus> status;
        if (!eventually([&] { return (status = process_->try_wait()).has_value(); }, limit)) {
            throw std::runtime_error("the guest did not power off within " +
                                     std::to_string(limit.count()) + " s; " + describe());
        }
        return *status;
    }

    // Waits until the console shows `text`, at most `limit`.
    bool wait_for_console(const std::string& text, std::chrono::seconds limit) {
        return eventually([&] { return console().find(text) != std::string::npos; }, limit);
    }

    std::string console() const { return read_file(options_.console); }
    // The console and QEMU's log, for a failure's message.
    std::string describe() const {
        return "the console:\n" + console() + "\nQEMU's log:\n" + read_file(options_.log);
    }

    // The guest's "PVSIM <name>=<value>" lines.
    std::map<std::string, std::string> results() const {
        std::map<std::string, std::string> out;
        std::istringstream lines(console());
        for (std::string line; std::getline(lines, line);) {
            const auto start = line.find("PVSIM ");
            const auto equals = line.find('=', start);
            if (start == std::string::npos || equals == std::string::npos) {
                continue;
            }
            std::string value = line.substr(equals + 1);
            while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) {
                value.pop_back();
            }
            out[line.substr(start + 6, equals - start - 6)] = value;
        }
        return out;
    }

  private:
    QemuGuestOptions options_;
    std::optional<os::ChildProcess> process_;
};

}  // namespace pvsim::test
