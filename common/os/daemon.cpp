#include "common/os/daemon.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <system_error>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/os/unique_fd.hpp"

namespace pvsim::os {

void add_daemon_options(CLI::App& app, DaemonOptions& options) {
    app.add_option("--run-dir", options.run_dir,
                   "the run directory (default: $PVSIM_RUN_DIR, else $XDG_RUNTIME_DIR/pvsim, "
                   "else /tmp/pvsim-$UID)");
    app.add_option("--log-level", options.log_level,
                   "trace, debug, info, warn, error, critical or off (default: $PVSIM_LOG, else "
                   "info; the last one given wins)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--ready-fd", options.ready_fd,
                   "an inherited fd to write one byte to, and close, once serving");
}

int daemon_main(std::string_view daemon, const std::function<int()>& run) {
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run();
    } catch (const std::exception& e) {
        std::cerr << daemon << ": " << e.what() << "\n";
        spdlog::error("fatal: {}", e.what());
        return 1;
    }
}

bool claim_daemon_socket(const std::filesystem::path& socket_path, std::string_view daemon,
                         const std::filesystem::path& run_dir) {
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::socket probe(io);
    boost::system::error_code connect_error;
    probe.connect(boost::asio::local::stream_protocol::endpoint(socket_path.string()),
                  connect_error);
    if (!connect_error) {
        std::cerr << daemon << ": another instance is already running in " << run_dir.string()
                  << "\n";
        spdlog::error("refusing to start: another {} serves {}", daemon, socket_path.string());
        return false;
    }
    std::error_code ec;
    if (std::filesystem::remove(socket_path, ec)) {
        spdlog::warn("removed the stale socket {}", socket_path.string());
    }
    return true;
}

std::optional<UniqueFd> lock_instance(const std::filesystem::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) {
        throw_system_error("open " + path.string());
    }
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return std::nullopt;
        }
        if (errno != EINTR) {
            throw_system_error("flock " + path.string());
        }
    }
    return fd;
}

void signal_ready(int fd) {
    UniqueFd ready = adopt_inherited_fd(fd);
    const char byte = '\n';
    while (::write(ready.get(), &byte, 1) < 0) {
        if (errno != EINTR) {
            throw_system_error("write --ready-fd " + std::to_string(fd));
        }
    }
}

void serve_until_signalled(boost::asio::io_context& io, const std::function<void()>& stop,
                           std::optional<int> ready_fd) {
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code ec, int number) {
        if (!ec) {
            spdlog::info("signal {} ({})", number, ::sigabbrev_np(number));
            stop();
        }
    });
    if (ready_fd) {
        signal_ready(*ready_fd);
    }
    io.run();
    stop();
}

std::unique_ptr<HangupWatch> exit_with_host(int hypercall_fd, std::function<void()> last) {
    return std::make_unique<HangupWatch>(hypercall_fd, [last = std::move(last)] {
        spdlog::error(
            "pvsim-hypervisor is gone (its end of the hypercall connection closed): the host "
            "is down, exiting");
        if (last) {
            last();
        }
        // Every log line is flushed as written (common/log.hpp).
        ::_exit(1);
    });
}

}  // namespace pvsim::os
