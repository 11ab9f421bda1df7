#include "tools/toolstack/run_daemons.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::tools::toolstack {
namespace {

using Clock = std::chrono::steady_clock;

std::filesystem::path pid_file(const RunDir& run, const std::string& name) {
    return run.path() / (name + ".pid");
}

std::filesystem::path output_file(const RunDir& run, const std::string& name) {
    return run.path() / (name + ".out");
}

// The last lines of the daemon's output, for an error saying why it died.
std::string output_tail(const RunDir& run, const std::string& name) {
    std::ifstream in(output_file(run, name));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    std::string tail;
    for (std::size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) {
        tail += "\n  " + lines[i];
    }
    return tail;
}

int milliseconds_left(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

pid_t start_daemon(const RunDir& run, const DaemonLaunch& launch) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        os::throw_system_error("pipe2");
    }
    os::UniqueFd ready_read(pipe_fds[0]);
    os::UniqueFd ready_write(pipe_fds[1]);
    const std::filesystem::path out_path = output_file(run, launch.name);
    os::UniqueFd output(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!output) {
        os::throw_system_error("open " + out_path.string());
    }
    os::UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));

    constexpr int kReadyChildFd = 3;
    std::vector<std::string> args = {"--run-dir", run.path().string(), "--ready-fd",
                                     std::to_string(kReadyChildFd)};
    if (launch.log_level) {
        args.insert(args.end(), {"--log-level", *launch.log_level});
    }
    args.insert(args.end(), launch.args.begin(), launch.args.end());

    os::SpawnOptions options;
    options.fds = {{null_in.get(), 0},
                   {output.get(), 1},
                   {output.get(), 2},
                   {ready_write.get(), kReadyChildFd}};
    options.new_session = true;
    options.cpus = launch.cpus;
    os::ChildProcess child = os::ChildProcess::spawn(launch.program, args, options);
    ready_write.reset();

    pollfd waiting{ready_read.get(), POLLIN, 0};
    const auto deadline = Clock::now() + launch.ready_timeout;
    int rc;
    while ((rc = ::poll(&waiting, 1, milliseconds_left(deadline))) < 0 && errno == EINTR) {
    }
    char byte = 0;
    const bool ready = rc > 0 && ::read(ready_read.get(), &byte, 1) == 1;
    if (!ready) {
        // ChildProcess kills and reaps it when `child` goes.
        throw std::runtime_error(
            launch.name + " did not start" +
            (rc == 0 ? " within " + std::to_string(launch.ready_timeout.count()) + " ms" : "") +
            output_tail(run, launch.name));
    }
    const pid_t pid = child.release();
    std::ofstream(pid_file(run, launch.name)) << pid << "\n";
    return pid;
}

std::optional<pid_t> daemon_pid(const RunDir& run, const std::string& name) {
    std::ifstream in(pid_file(run, name));
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 0) {
        return std::nullopt;
    }
    // The pid may have been reused since: the process must be that program.
    if (program_of(pid) != name) {
        return std::nullopt;
    }
    return pid;
}

std::optional<std::string> program_of(pid_t pid) {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    if (ec) {
        return std::nullopt;
    }
    std::string name = exe.filename().string();
    constexpr std::string_view kDeleted = " (deleted)";
    if (name.ends_with(kDeleted)) {
        name.resize(name.size() - kDeleted.size());
    }
    return name;
}

bool signal_daemon(const RunDir& run, const std::string& name, int signal) {
    const auto pid = daemon_pid(run, name);
    return pid && ::kill(*pid, signal) == 0;
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
    // A pidfd turns readable when the process ends, child of ours or not.
    const os::UniqueFd pidfd = os::pidfd_of(pid);
    if (!pidfd) {
        return errno == ESRCH;
    }
    pollfd waiting{pidfd.get(), POLLIN, 0};
    const auto deadline = Clock::now() + timeout;
    int rc;
    while ((rc = ::poll(&waiting, 1, milliseconds_left(deadline))) < 0 && errno == EINTR) {
    }
    return rc > 0;
}

bool stop_daemon(const RunDir& run, const std::string& name, std::chrono::milliseconds grace) {
    const auto pid = daemon_pid(run, name);
    bool was_running = false;
    if (pid && ::kill(*pid, SIGTERM) == 0) {
        was_running = true;
        if (!wait_for_exit(*pid, grace)) {
            ::kill(*pid, SIGKILL);
            wait_for_exit(*pid, std::chrono::seconds(5));
        }
    }
    std::error_code ignored;
    std::filesystem::remove(pid_file(run, name), ignored);
    return was_running;
}

}  // namespace pvsim::tools::toolstack
