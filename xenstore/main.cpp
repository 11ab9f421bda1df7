// pvsim-xenstored: the xenstore of one pvsim run (DESIGN.md §1, §4), serving
// Xen's wire protocol (xen/io/xs_wire.h) on <run>/xenstored/socket, where
// XENSTORED_PATH points Debian's xenstore-utils, and on the ring pages of
// the guests XS_INTRODUCE names. Always in the foreground; `pvsim up` starts
// it after pvsim-hypervisor, with --ready-fd to learn when it serves. Quota
// options take the C xenstored's names (tools/xenstored/core.c).
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/log.hpp"
#include "common/os/daemon.hpp"
#include "common/os/environment.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "xenstore/server/xenstored.hpp"
#include "xenstore/store/xenstore.hpp"

namespace {

using namespace pvsim;
using namespace pvsim::xenstore;

// C xenstored's get_optval_uint(): decimal, at most INT_MAX.
std::optional<std::size_t> parse_value(const std::string& number) {
    if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos ||
        number.size() > 10) {
        return std::nullopt;
    }
    const unsigned long long value = std::stoull(number);
    if (value > static_cast<unsigned long long>(INT32_MAX)) {
        return std::nullopt;
    }
    return static_cast<std::size_t>(value);
}

// -w/--timeout WHAT=SECONDS, C xenstored's set_timeout().
std::string apply_timeout(const std::string& spec, server::XenstoredOptions& options) {
    const std::size_t equals = spec.find('=');
    if (equals == std::string::npos) {
        return "timeouts must be specified via <what>=<seconds>, not \"" + spec + "\"";
    }
    const std::optional<std::size_t> seconds = parse_value(spec.substr(equals + 1));
    if (!seconds) {
        return "invalid timeout value in \"" + spec + "\"";
    }
    if (spec.substr(0, equals) != "watch-event") {
        return "unknown timeout \"" + spec.substr(0, equals) + "\": expected watch-event";
    }
    options.watch_event_timeout = std::chrono::seconds(*seconds);
    return {};
}

// -Q/--quota WHAT=NB, C xenstored's set_quota() for the quotas pvsim keeps.
// Returns an error message, empty when applied.
std::string apply_quota(const std::string& spec, store::Quotas& quotas) {
    const std::size_t equals = spec.find('=');
    if (equals == std::string::npos) {
        return "quotas must be specified via <what>=<nb>, not \"" + spec + "\"";
    }
    const std::string what = spec.substr(0, equals);
    const std::optional<std::size_t> parsed = parse_value(spec.substr(equals + 1));
    if (!parsed) {
        return "invalid quota value in \"" + spec + "\"";
    }
    const std::size_t value = *parsed;
    if (what == "nodes") {
        quotas.nodes = value;
    } else if (what == "node-size") {
        quotas.node_size = value;
    } else if (what == "watches") {
        quotas.watches = value;
    } else if (what == "transactions") {
        quotas.transactions = value;
    } else if (what == "node-permissions") {
        quotas.node_permissions = value;
    } else if (what == "transaction-nodes") {
        quotas.transaction_nodes = value;
    } else if (what == "outstanding") {
        if (value == 0) {
            return "quota outstanding=0 would never let a guest be answered";
        }
        quotas.outstanding_requests = value;
    } else {
        return "unknown quota \"" + what +
               "\": expected nodes, node-size, watches, transactions, node-permissions, "
               "transaction-nodes or outstanding";
    }
    return {};
}

// Once logging goes to the run directory: refuse a second instance, clear a
// stale socket, serve until SIGTERM or SIGINT.
int serve(const RunDir& run_dir, const server::XenstoredOptions& options,
          std::optional<int> ready_fd) {
    if (!os::claim_daemon_socket(run_dir.xenstored_socket(), "pvsim-xenstored", run_dir.path())) {
        return 1;
    }

    boost::asio::io_context io;
    server::Xenstored xenstored(io, run_dir, options);
    os::serve_until_signalled(
        io, [&] { xenstored.stop(); }, ready_fd);
    return xenstored.host_failure().empty() ? 0 : 1;
}

int run(int argc, char** argv) {
    CLI::App app{"pvsim-xenstored: the xenstore of one pvsim run"};
    os::DaemonOptions daemon;
    server::XenstoredOptions options;
    store::Quotas& quotas = options.quotas;
    std::vector<std::string> quota_specs;
    std::vector<std::string> timeout_specs;
    os::add_daemon_options(app, daemon);
    app.add_option("-E,--entry-nb", quotas.nodes, "nodes a domain may own")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{0}, std::size_t{INT32_MAX}));
    app.add_option("-S,--entry-size", quotas.node_size,
                   "bytes of one node (value, permissions and children names)")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{0}, std::size_t{INT32_MAX}));
    app.add_option("-W,--watch-nb", quotas.watches, "watches per domain")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{0}, std::size_t{INT32_MAX}));
    app.add_option("-t,--transaction", quotas.transactions, "open transactions per domain")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{0}, std::size_t{INT32_MAX}));
    app.add_option("-A,--perm-nb", quotas.node_permissions, "permissions of one node")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{INT32_MAX}));
    app.add_option("-Q,--quota", quota_specs,
                   "WHAT=NB, WHAT one of nodes, node-size, watches, transactions, "
                   "node-permissions, transaction-nodes, outstanding (requests a guest may have "
                   "unanswered; default " +
                       std::to_string(quotas.outstanding_requests) + ")")
        ->take_all();
    app.add_option("-w,--timeout", timeout_specs,
                   "WHAT=SECONDS, WHAT watch-event: how long a watch event may wait for a guest "
                   "to take it before it is dropped (default 20; 0 waits forever)")
        ->take_all();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    for (const std::string& spec : quota_specs) {
        if (const std::string error = apply_quota(spec, quotas); !error.empty()) {
            std::cerr << "pvsim-xenstored: " << error << "\n";
            return 1;
        }
    }
    for (const std::string& spec : timeout_specs) {
        if (const std::string error = apply_timeout(spec, options); !error.empty()) {
            std::cerr << "pvsim-xenstored: " << error << "\n";
            return 1;
        }
    }

    const os::Environment env = os::Environment::process();
    const RunDir run_dir = RunDir::resolve(daemon.run_dir, env);
    setup_logging(run_dir, "pvsim-xenstored", daemon.log_level, env);
    return serve(run_dir, options, daemon.ready_fd);
}

}  // namespace

int main(int argc, char** argv) {
    return pvsim::os::daemon_main("pvsim-xenstored", [&] { return run(argc, argv); });
}
