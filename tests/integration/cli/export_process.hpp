// `pvsim export vhost-user-blk ...` as a real child process for the tests
// that drive pvsim's vhost-user-blk device from outside (a test front-end,
// or QEMU with a Linux guest): started with its stdout on a pipe and its
// log (stderr) in a file, and returned once it has printed the line saying
// it listens. The owner stops it with a signal and gets its exit status; an
// export still running when the object goes is killed and reaped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/daemon_process.hpp"

namespace pvsim::test {

class ExportProcess {
  public:
    // Runs PVSIM_CLI export vhost-user-blk `args`, its log in `log`.
    ExportProcess(const std::filesystem::path& log, const std::vector<std::string>& args)
        : log_(log) {
        int pipe_fds[2];
        if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
            os::throw_system_error("pipe2");
        }
        out_read_.reset(pipe_fds[0]);
        os::UniqueFd out_write(pipe_fds[1]);
        os::UniqueFd err(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!err) {
            os::throw_system_error("open " + log.string());
        }
        std::vector<std::string> words = {"export", "vhost-user-blk"};
        words.insert(words.end(), args.begin(), args.end());
        os::SpawnOptions options;
        options.fds = {{out_write.get(), 1}, {err.get(), 2}};
        process_ = os::ChildProcess::spawn(PVSIM_CLI, words, options);
        out_write.reset();
        line_ = read_line(std::chrono::seconds(30));
    }
    ExportProcess(const ExportProcess&) = delete;
    ExportProcess& operator=(const ExportProcess&) = delete;

    // The line it printed once listening.
    const std::string& line() const noexcept { return line_; }
    // Its log so far.
    std::string log() const { return read_file(log_); }

    // Sends `signal` and waits (at most 30 s) for the exit.
    os::ExitStatus stop(int signal = SIGTERM) {
        process_->kill(signal);
        std::optional<os::ExitStatus> status;
        if (!eventually([&] { return (status = process_->try_wait()).has_value(); },
                        std::chrono::seconds(30))) {
            throw std::runtime_error("pvsim export did not exit after signal " +
                                     std::to_string(signal) + "; its log:\n" + log());
        }
        process_.reset();
        return *status;
    }

  private:
    std::string read_line(std::chrono::seconds limit) {
        std::string text;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (text.find('\n') == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            char buffer[256];
            ssize_t got = 0;
            if (left.count() <= 0 || !wait_readable(out_read_.get(), left) ||
                (got = ::read(out_read_.get(), buffer, sizeof(buffer))) <= 0) {
                throw std::runtime_error("pvsim export did not say it listens (stdout \"" + text +
                                         "\"); its log:\n" + log());
            }
            text.append(buffer, static_cast<std::size_t>(got));
        }
        return text.substr(0, text.find('\n'));
    }

    std::filesystem::path log_;
    os::UniqueFd out_read_;
    std::optional<os::ChildProcess> process_;
    std::string line_;
};

}  // namespace pvsim::test
