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

// One "<what>=<nb>" option argument (C xenstored's set_timeout(),
// set_quota()): `what` and the value, or `error` saying what is wrong.
struct Setting {
    std::string what;
    std::size_t value = 0;
    std::string error;
};

Setting parse_setting(const std::string& spec, const char* kind, const char* unit) {
    const std::size_t equals = spec.find('=');
    if (equals == std::string::npos) {
        return {{},
                0,
                std::string(kind) + "s must be specified via <what>=<" + unit + ">, not \"" + spec +
                    "\""};
    }
    const std::optional<std::size_t> value = parse_value(spec.substr(equals + 1));
    if (!value) {
        return {{}, 0, "invalid " + std::string(kind) + " value in \"" + spec + "\""};
    }
    return {spec.substr(0, equals), *value, {}};
}

// -w/--timeout WHAT=SECONDS. Returns an error message, empty when applied.
std::string apply_timeout(const std::string& spec, server::XenstoredOptions& options) {
    const Setting setting = parse_setting(spec, "timeout", "seconds");
    if (!setting.error.empty()) {
        return setting.error;
    }
    if (setting.what != "watch-event") {
        return "unknown timeout \"" + setting.what + "\": expected watch-event";
    }
    options.watch_event_timeout = std::chrono::seconds(setting.value);
    return {};
}

// -Q/--quota WHAT=NB, for the quotas pvsim keeps. Returns an error message,
// empty when applied.
std::string apply_quota(const std::string& spec, store::Quotas& quotas) {
    const Setting setting = parse_setting(spec, "quota", "nb");
    if (!setting.error.empty()) {
        return setting.error;
    }
    const std::string& what = setting.what;
    const std::size_t value = setting.value;
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
    } else if (what == "memory") {
        quotas.memory_hard = value;
    } else if (what == "outstanding") {
        if (value == 0) {
            return "quota outstanding=0 would never let a guest be answered";
        }
        quotas.outstanding_requests = value;
    } else {
        return "unknown quota \"" + what +
               "\": expected nodes, node-size, watches, transactions, node-permissions, "
               "transaction-nodes, memory or outstanding";
    }
    return {};
}

// -q/--quota-soft WHAT=NB (Xen 4.17 xenstored): only memory has a soft quota.
std::string apply_soft_quota(const std::string& spec, store::Quotas& quotas) {
    const Setting setting = parse_setting(spec, "quota", "nb");
    if (!setting.error.empty()) {
        return setting.error;
    }
    if (setting.what != "memory") {
        return "unknown soft quota \"" + setting.what + "\": expected memory";
    }
    quotas.memory_soft = setting.value;
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
    std::vector<std::string> soft_quota_specs;
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
                   "node-permissions, transaction-nodes, memory (bytes a domain may hold: nodes, "
                   "watches, transaction copies; default " +
                       std::to_string(quotas.memory_hard) +
                       "), outstanding (requests a guest may have unanswered; default " +
                       std::to_string(quotas.outstanding_requests) + ")")
        ->take_all();
    app.add_option("-q,--quota-soft", soft_quota_specs,
                   "memory=NB: bytes a domain may hold before a warning is logged (default " +
                       std::to_string(quotas.memory_soft) + ")")
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
    for (const std::string& spec : soft_quota_specs) {
        if (const std::string error = apply_soft_quota(spec, quotas); !error.empty()) {
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
