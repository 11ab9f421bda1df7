#include "tools/cli/qsd_device.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "tools/cli/child_program.hpp"
#include "tools/cli/session.hpp"

namespace pvsim::tools::cli {
namespace {

constexpr const char* kProgram = "qemu-storage-daemon";

}  // namespace

std::optional<std::filesystem::path> find_qemu_storage_daemon() {
    return find_program(kProgram);
}

QsdDevice::QsdDevice(const std::filesystem::path& image, const std::filesystem::path& socket,
                     const std::filesystem::path& log, const std::optional<os::CpuList>& cpus)
    : socket_(socket) {
    const auto program = find_qemu_storage_daemon();
    if (!program) {
        throw CommandError(std::string(kProgram) +
                           " is not installed (it is in the package qemu-system-common)");
    }
    std::error_code ignored;
    std::filesystem::remove(socket_, ignored);
    // discard=unmap: QEMU's block layer drops discards unless the nodes
    // are opened with it (bdrv_co_pdiscard), as pvsim's device punches holes.
    const std::vector<std::string> args = {
        "--blockdev",
        "driver=file,node-name=file0,discard=unmap,filename=" + image.string(),
        "--blockdev",
        "driver=raw,node-name=disk0,discard=unmap,file=file0",
        "--export",
        "type=vhost-user-blk,id=exp0,node-name=disk0,writable=on,addr.type=unix,addr.path=" +
            socket_.string()};
    os::UniqueFd out(::open(log.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) {
        os::throw_system_error("create " + log.string());
    }
    os::SpawnOptions spawn;
    spawn.fds = {{out.get(), 1}, {out.get(), 2}};
    spawn.cpus = cpus;
    // Owned by pid from here: reaped by whoever SIGCHLD's disposition says.
    pid_ = os::ChildProcess::spawn(*program, args, spawn).release();
    // The export listens once its socket exists.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::filesystem::exists(socket_)) {
        if (child_ended(pid_)) {
            pid_ = -1;
            throw CommandError(std::string(kProgram) + " exited at start: " + log_tail(log));
        }
        if (std::chrono::steady_clock::now() > deadline) {
            stop();
            throw CommandError(std::string(kProgram) + " did not create " + socket_.string() +
                               " within 30 s: " + log_tail(log));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

QsdDevice::~QsdDevice() {
    stop();
    std::error_code ignored;
    std::filesystem::remove(socket_, ignored);
}

void QsdDevice::stop() noexcept {
    if (pid_ <= 0) {
        return;
    }
    // SIGTERM lets it close the image; one that does not go in 5 s is killed.
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!child_ended(pid_)) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            while (!child_ended(pid_)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
}

}  // namespace pvsim::tools::cli
