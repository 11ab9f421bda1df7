// Debian's xenstore-utils (/usr/bin/xenstore-read, -write, -ls, ...), real
// clients nobody here wrote, run as child processes against a
// pvsim-xenstored through XENSTORED_PATH, with their output captured.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::test {

struct ToolResult {
    os::ExitStatus status;
    std::string out;
    std::string err;
};

// A running xenstore-<tool> whose stdout and stderr come back through pipes.
class XenstoreTool {
  public:
    XenstoreTool(const XenstoredProcess& xenstored, const std::string& tool,
                 const std::vector<std::string>& args) {
        os::UniqueFd out_read, out_write, err_read, err_write;
        make_pipe(out_read, out_write);
        make_pipe(err_read, err_write);
        os::SpawnOptions options;
        options.fds = {{out_write.get(), 1}, {err_write.get(), 2}};
        options.environment = xenstored.environment();
        process_.emplace(os::ChildProcess::spawn("/usr/bin/xenstore-" + tool, args, options));
        out_ = std::move(out_read);
        err_ = std::move(err_read);
    }
    ~XenstoreTool() {
        if (process_ && process_->running()) {
            process_->kill(SIGKILL);
            process_->wait();
        }
    }
    XenstoreTool(const XenstoreTool&) = delete;
    XenstoreTool& operator=(const XenstoreTool&) = delete;

    // The next line the tool prints on stdout (without its newline);
    // nullopt at the end of its output or after `limit`.
    std::optional<std::string> next_line(std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (const auto newline = out_text_.find('\n', line_start_);
                newline != std::string::npos) {
                std::string line = out_text_.substr(line_start_, newline - line_start_);
                line_start_ = newline + 1;
                return line;
            }
            if (!out_) {
                return std::nullopt;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !pump(left)) {
                return std::nullopt;
            }
        }
    }

    // Reads everything until the tool closes its output, then reaps it.
    // Throws if that takes longer than `limit` (the tool is then killed).
    ToolResult finish(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (out_ || err_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                throw std::runtime_error("xenstore tool still running after " +
                                         std::to_string(limit.count()) +
                                         " ms; output so far: " + out_text_ + err_text_);
            }
            pump(left);
        }
        ToolResult result{process_->wait(), out_text_, err_text_};
        return result;
    }

  private:
    static void make_pipe(os::UniqueFd& read_end, os::UniqueFd& write_end) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            os::throw_system_error("pipe2");
        }
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }

    // Waits up to `limit` for output; false if none came and stdout is shut.
    bool pump(std::chrono::milliseconds limit) {
        pollfd entries[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
        const int ready = ::poll(entries, 2, static_cast<int>(limit.count()));
        if (ready < 0 && errno != EINTR) {
            os::throw_system_error("poll");
        }
        if (ready <= 0) {
            return false;
        }
        drain(out_, entries[0].revents, out_text_);
        drain(err_, entries[1].revents, err_text_);
        return true;
    }

    static void drain(os::UniqueFd& fd, short revents, std::string& text) {
        if (!fd || revents == 0) {
            return;
        }
        char buffer[4096];
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n > 0) {
            text.append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            fd.reset();
        }
    }

    std::optional<os::ChildProcess> process_;
    os::UniqueFd out_;
    os::UniqueFd err_;
    std::string out_text_;
    std::string err_text_;
    std::size_t line_start_ = 0;
};

// Runs xenstore-<tool> ARGS to its end.
inline ToolResult run_tool(const XenstoredProcess& xenstored, const std::string& tool,
                           const std::vector<std::string>& args) {
    XenstoreTool running(xenstored, tool, args);
    return running.finish();
}

}  // namespace pvsim::test
