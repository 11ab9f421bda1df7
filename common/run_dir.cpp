#include "common/run_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "common/os/unique_fd.hpp"
#include "common/units.hpp"

namespace pvsim {
namespace {

constexpr mode_t kPrivateDirMode = 0700;

// A hash that every pvsim process, of any build, computes the same way from
// the same path; std::hash promises no such stability, hence this.
std::uint64_t fnv1a64(std::string_view text) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV offset basis
    for (const char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;  // FNV prime
    }
    return hash;
}

// mkdir with mode 0700; an existing directory is fine (another process of
// the run may have created it first).
void make_private_dir(const std::filesystem::path& path) {
    if (::mkdir(path.c_str(), kPrivateDirMode) < 0 && errno != EEXIST) {
        os::throw_system_error("mkdir " + path.string());
    }
}

void check_ours(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) {
        os::throw_system_error("stat " + path.string());
    }
    if (!S_ISDIR(st.st_mode)) {
        throw std::system_error(ENOTDIR, std::system_category(), "run directory " + path.string());
    }
    if (st.st_uid != ::geteuid()) {
        throw std::system_error(EPERM, std::system_category(),
                                fmt::format("run directory {} belongs to uid {}, not to uid {}",
                                            path.string(), st.st_uid, ::geteuid()));
    }
}

}  // namespace

std::filesystem::path resolve_run_dir_path(std::optional<std::string_view> run_dir_arg,
                                           const os::Environment& env, uid_t uid) {
    if (run_dir_arg) {
        if (run_dir_arg->empty()) {
            throw ParseError("invalid --run-dir \"\": expected a directory path");
        }
        return std::filesystem::absolute(*run_dir_arg);
    }
    if (auto dir = env.get_non_empty("PVSIM_RUN_DIR")) {
        return std::filesystem::absolute(*dir);
    }
    if (auto runtime = env.get_non_empty("XDG_RUNTIME_DIR")) {
        const std::filesystem::path base(*runtime);
        if (base.is_absolute()) {
            return base / "pvsim";
        }
    }
    return std::filesystem::path("/tmp") / fmt::format("pvsim-{}", uid);
}

RunDir RunDir::resolve(std::optional<std::string_view> run_dir_arg, const os::Environment& env) {
    return open(resolve_run_dir_path(run_dir_arg, env));
}

RunDir RunDir::open(const std::filesystem::path& path) {
    const std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
    std::error_code ec;
    if (!std::filesystem::exists(absolute, ec)) {
        if (absolute.has_parent_path()) {
            std::filesystem::create_directories(absolute.parent_path(), ec);
            if (ec) {
                throw std::system_error(ec, "mkdir " + absolute.parent_path().string());
            }
        }
        make_private_dir(absolute);
    }
    check_ours(absolute);
    RunDir run(std::filesystem::canonical(absolute));
    make_private_dir(run.hypervisor_socket().parent_path());
    make_private_dir(run.xenstored_socket().parent_path());
    make_private_dir(run.guest_agent_socket(0).parent_path());
    check_socket_path(run.hypervisor_socket());
    check_socket_path(run.xenstored_socket());
    return run;
}

RunDir::RunDir(std::filesystem::path path)
    : path_(std::move(path)), shm_tag_(fmt::format("{:016x}", fnv1a64(path_.string()))) {}

std::filesystem::path RunDir::hypervisor_socket() const {
    return path_ / "hypervisor" / "control.sock";
}

std::filesystem::path RunDir::xenstored_socket() const {
    return path_ / "xenstored" / "socket";
}

std::filesystem::path RunDir::guest_agent_socket(unsigned domid) const {
    return path_ / "guests" / (std::to_string(domid) + ".sock");
}

std::filesystem::path RunDir::log_file(std::string_view process_name) const {
    if (process_name.empty() || process_name.front() == '.' ||
        process_name.find('/') != std::string_view::npos) {
        throw ParseError(fmt::format(
            "invalid process name \"{}\": expected a non-empty name without '/' that does not "
            "start with '.'",
            process_name));
    }
    return path_ / (std::string(process_name) + ".log");
}

void check_socket_path(const std::filesystem::path& socket_path) {
    const std::string text = socket_path.string();
    if (text.size() > kMaxSocketPathLength) {
        throw std::system_error(
            ENAMETOOLONG, std::system_category(),
            fmt::format("socket path {} has {} characters, unix sockets allow at most {}; choose "
                        "a shorter run directory",
                        text, text.size(), kMaxSocketPathLength));
    }
}

}  // namespace pvsim
