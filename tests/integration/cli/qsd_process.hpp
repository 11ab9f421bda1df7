// qemu-storage-daemon with a vhost-user-blk export of a raw image, as a
// child process for the CLI's tests of pvsim's driver against a device no
// one here wrote (QEMU's libvhost-user). Started once its socket is there;
// stopped with SIGTERM when the object goes, unless killed before.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {

inline constexpr const char* kQemuStorageDaemon = "/usr/bin/qemu-storage-daemon";

class QsdProcess {
  public:
    QsdProcess(const std::filesystem::path& image, const std::filesystem::path& socket,
               const std::filesystem::path& log)
        : socket_(socket) {
        os::UniqueFd out(::open(log.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
        os::SpawnOptions spawn;
        spawn.fds = {{out.get(), 1}, {out.get(), 2}};
        process_.emplace(os::ChildProcess::spawn(
            kQemuStorageDaemon,
            {"--blockdev", "driver=file,node-name=file0,filename=" + image.string(), "--blockdev",
             "driver=raw,node-name=disk0,file=file0", "--export",
             "type=vhost-user-blk,id=exp0,node-name=disk0,writable=on,addr.type=unix,addr.path=" +
                 socket.string()},
            spawn));
        EXPECT_TRUE(
            eventually([&] { return std::filesystem::exists(socket_); }, std::chrono::seconds(30)))
            << read_file(log);
    }
    ~QsdProcess() {
        if (process_) {
            process_->kill(SIGTERM);
            process_->wait();
        }
    }
    QsdProcess(const QsdProcess&) = delete;
    QsdProcess& operator=(const QsdProcess&) = delete;

    const std::filesystem::path& socket() const { return socket_; }
    // SIGKILL, reaped; its socket file stays behind, as a killed daemon's does.
    void kill() {
        process_->kill(SIGKILL);
        process_->wait();
        process_.reset();
    }

  private:
    std::filesystem::path socket_;
    std::optional<os::ChildProcess> process_;
};

}  // namespace pvsim::test
