// What every pvsim daemon does around its event loop, in one place: claim
// its socket in the run directory (refusing to start beside a live
// instance, clearing a stale socket) and tell whoever started it that it
// serves (--ready-fd, the pipe `pvsim up` and the tests wait on).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include <boost/asio/io_context.hpp>

#include "common/os/hangup_watch.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::os {

// The options every pvsim daemon takes (DESIGN.md §1, §8).
struct DaemonOptions {
    std::optional<std::string> run_dir;    // --run-dir, else resolved as DESIGN.md §1 says
    std::optional<std::string> log_level;  // --log-level, else $PVSIM_LOG, else info
    std::optional<int> ready_fd;           // --ready-fd: told once serving
};

// Adds --run-dir, --log-level (the last one given wins) and --ready-fd.
void add_daemon_options(CLI::App& app, DaemonOptions& options);

// The daemon's main(): SIGPIPE ignored (a peer that goes away mid-write must
// not kill it), then `run`; an exception escaping it is printed as
// "<daemon>: <what>", logged, and exit status 1.
int daemon_main(std::string_view daemon, const std::function<int()>& run);

// Refuses (false, after telling stderr and the log) when something accepts
// connections on `socket_path`: another `daemon` serving this run.
// Otherwise removes a socket file nobody listens on and returns true.
bool claim_daemon_socket(const std::filesystem::path& socket_path, std::string_view daemon,
                         const std::filesystem::path& run_dir);

// For a daemon with no socket of its own to claim: an exclusive flock(2) on
// `path` (created mode 0600), held as long as the returned fd lives and
// dropped by the kernel if the process dies. nullopt when another process
// holds it.
std::optional<UniqueFd> lock_instance(const std::filesystem::path& path);

// Writes one byte to the inherited fd `fd` and closes it.
void signal_ready(int fd);

// The daemon's main loop: signals readiness on `ready_fd` if given, runs
// `io` until it has no more work, and calls `stop` on SIGTERM or SIGINT
// (logged) and once more when the loop ends (stop must be idempotent).
void serve_until_signalled(boost::asio::io_context& io, const std::function<void()>& stop,
                           std::optional<int> ready_fd);

// A domain process's end when its host dies (DESIGN.md §1, "The host"):
// once the hypervisor's end of `hypercall_fd` closes, logs that
// pvsim-hypervisor is gone, runs `last` (what only this process would
// remove, e.g. its socket file) and ends the process at once, exit status
// 1. Nothing is closed in order, as nothing in a guest is when the machine
// under it stops: every peer is going too, and waiting on them would only
// hang. The watch ends with the returned object.
std::unique_ptr<HangupWatch> exit_with_host(int hypercall_fd, std::function<void()> last = {});

}  // namespace pvsim::os
