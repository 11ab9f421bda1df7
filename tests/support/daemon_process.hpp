// Starting a pvsim daemon for a test the way `pvsim up` will: in a given
// run directory, with --ready-fd, returning once it serves (or failing with
// its log), and waiting helpers for what happens in other processes.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {

// Blocks until `fd` is readable, for at most `limit`.
inline bool wait_readable(int fd, std::chrono::milliseconds limit) {
    pollfd entry{fd, POLLIN, 0};
    for (;;) {
        const int ready = ::poll(&entry, 1, static_cast<int>(limit.count()));
        if (ready >= 0 || errno != EINTR) {
            return ready > 0;
        }
    }
}

// Spawns `program` (a pvsim daemon named `name`, which logs to the run
// directory's <name>.log) with --run-dir, --ready-fd 3, --log-level debug
// and `extra_args` (later options win), and waits for its ready byte.
inline os::ChildProcess start_daemon(const std::string& program, const std::string& name,
                                     const RunDir& run_dir,
                                     const std::vector<std::string>& extra_args) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        os::throw_system_error("pipe2");
    }
    os::UniqueFd ready_read(pipe_fds[0]);
    os::UniqueFd ready_write(pipe_fds[1]);
    std::vector<std::string> args = {"--run-dir", run_dir.path().string(), "--ready-fd",
                                     "3",         "--log-level",           "debug"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    os::SpawnOptions options;
    options.fds.push_back({ready_write.get(), 3});
    os::ChildProcess process = os::ChildProcess::spawn(program, args, options);
    ready_write.reset();
    // The ready byte, then end of file: the daemon has closed its end too,
    // so a test counting the daemon's fds from here counts none of ours.
    char byte = 0;
    if (!wait_readable(ready_read.get(), std::chrono::seconds(30)) ||
        ::read(ready_read.get(), &byte, 1) != 1 ||
        !wait_readable(ready_read.get(), std::chrono::seconds(30)) ||
        ::read(ready_read.get(), &byte, 1) != 0) {
        std::ifstream log(run_dir.log_file(name));
        throw std::runtime_error(
            name + " did not become ready in " + run_dir.path().string() + "; its log:\n" +
            std::string(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>()));
    }
    return process;
}

// Runs `program` with `args` until it exits (for a daemon that should
// refuse to start), its stderr captured in `scratch`: the exit status and
// what it printed.
inline std::pair<os::ExitStatus, std::string> run_to_exit(const std::string& program,
                                                          const std::filesystem::path& scratch,
                                                          const std::vector<std::string>& args) {
    const std::filesystem::path err_path = scratch / "stderr.txt";
    os::UniqueFd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!err) {
        os::throw_system_error("open " + err_path.string());
    }
    os::SpawnOptions options;
    options.fds.push_back({err.get(), 2});
    os::ChildProcess process = os::ChildProcess::spawn(program, args, options);
    std::optional<os::ExitStatus> status;
    if (!eventually([&] { return (status = process.try_wait()).has_value(); },
                    std::chrono::seconds(30))) {
        throw std::runtime_error(program + " did not exit");
    }
    std::ifstream in(err_path);
    return {*status, std::string(std::istreambuf_iterator<char>(in), {})};
}

}  // namespace pvsim::test
