#include "tools/cli/export_command.hpp"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <filesystem>
#include <ostream>
#include <utility>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "backend/storage/make_engine.hpp"
#include "backend/vhost_user_blk/vhost_user_server.hpp"
#include "common/log.hpp"
#include "common/os/environment.hpp"
#include "common/os/unique_fd.hpp"
#include "tools/cli/session.hpp"
#include "tools/cli/stop_signals.hpp"
#include "tools/cli/target_access.hpp"

namespace pvsim::tools::cli {
namespace export_command {

namespace vub = backend::vhost_user_blk;

// Whether something accepts connections on the unix socket at `path`.
bool someone_listens(const std::filesystem::path& path) {
    const os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    ::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    return fd &&
           ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

// The socket path, absolute, once it is known the device can listen there
// and take nobody's place (a live device's socket is never replaced).
std::filesystem::path checked_socket(const std::string& socket) {
    const std::string named = "--socket " + socket + ": ";
    const std::filesystem::path path = std::filesystem::absolute(socket);
    if (path.string().size() >= sizeof(sockaddr_un::sun_path)) {
        throw CommandError(named + "longer than a unix socket's path may be (" +
                           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
    }
    std::error_code ec;
    if (!std::filesystem::is_directory(path.parent_path(), ec)) {
        throw CommandError(named + "no directory " + path.parent_path().string());
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            throw CommandError(named + "a file that is not a socket is there");
        }
        if (someone_listens(path)) {
            throw CommandError(named + "another device listens there");
        }
    }
    return path;
}

// The device's options from the command's, every one checked.
vub::ServerOptions server_options(const ExportOptions& options) {
    vub::ServerOptions server;
    server.device.image = checked_target("--target", options.target, options.read_only,
                                         " (not writable: --read-only exports it read-only)");
    server.socket_path = checked_socket(options.socket);
    server.device.read_only = options.read_only;
    server.device.num_queues = options.queues;
    server.device.poll_max = std::chrono::microseconds(options.poll_us);
    server.device.engine = backend::storage::parse_engine_kind(options.io_engine);
    server.name = "export";
    try {
        vub::validate(server.device);
    } catch (const std::invalid_argument& e) {
        throw CommandError(e.what());
    }
    return server;
}

// The log on stderr (stdout carries the one line saying the device listens),
// in the daemons' log format.
void log_to_stderr(const std::optional<std::string>& log_level) {
    auto logger = std::make_shared<spdlog::logger>(
        "pvsim-export", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%n] [pid %P] [%l] %v");
    logger->set_level(resolve_log_level(log_level, os::Environment::process()));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

std::string describe(const vub::VhostUserBlkServer& server) {
    const unsigned queues = server.config().num_queues();
    return "vhost-user-blk at " + server.socket_path().string() + " serves " +
           server.store().path().string() + " (" + std::to_string(server.store().sectors()) +
           " sectors, " + std::to_string(queues) + (queues == 1 ? " queue" : " queues") +
           (server.config().limits().read_only ? ", read-only" : "") + ")";
}

}  // namespace export_command

CLI::App* add_export_command(CLI::App& app, const std::shared_ptr<ExportOptions>& options) {
    CLI::App* command = app.add_subcommand(
        "export",
        "Serve a disk image as a vhost-user-blk device on a unix socket, in the foreground, "
        "as qemu-storage-daemon's --export does (no run needed; SIGINT or SIGTERM stops it)");
    command->add_option("TYPE", options->type, "The kind of export: vhost-user-blk")
        ->required()
        ->check(CLI::IsMember({"vhost-user-blk"}));
    command
        ->add_option("--target", options->target,
                     "The image file or block device to serve (writable unless --read-only)")
        ->required();
    command
        ->add_option("--socket", options->socket,
                     "The unix socket to listen on (a stale socket there is replaced)")
        ->required();
    command->add_option("--queues", options->queues, "Virtqueues offered (num_queues)")
        ->capture_default_str()
        ->check(CLI::Range(1u, backend::vhost_user_blk::kMaxQueues));
    command->add_flag("--read-only", options->read_only,
                      "Offer VIRTIO_BLK_F_RO and refuse writes; the target is opened read-only");
    command
        ->add_option("--io-engine", options->io_engine,
                     "auto (io_uring, else the thread pool), io_uring, threads, or sync")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "io_uring", "threads", "sync"}));
    command
        ->add_option("--poll-us", options->poll_us,
                     "The queue threads' adaptive polling bound in microseconds (0: no polling)")
        ->capture_default_str()
        ->check(CLI::Range(0u, 1000000u));
    return command;
}

int run_export(const ExportOptions& options, const std::optional<std::string>& log_level,
               std::ostream& out, std::ostream& err) {
    using namespace export_command;
    try {
        vub::ServerOptions server_opts = server_options(options);
        log_to_stderr(log_level);
        // Before the device's threads start: they inherit the mask.
        const StopSignals stop_signals;
        vub::VhostUserBlkServer server(std::move(server_opts));
        out << "pvsim export: " << describe(server) << std::endl;
        const int signal = stop_signals.wait();
        spdlog::info("pvsim export: SIG{}: stopping", ::sigabbrev_np(signal));
        server.stop();
        spdlog::info("pvsim export: the device's counters: {}", server.counters().to_json().dump());
        return 0;
    } catch (const std::exception& e) {
        out.flush();
        err << "pvsim export: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace pvsim::tools::cli
