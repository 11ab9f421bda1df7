// The run directory: where every socket, log and piece of state of one
// simulation lives (DESIGN.md §1), so that several simulations coexist on a
// machine, each process finds the others, and `pvsim down` knows what to
// remove.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/os/environment.hpp"

namespace pvsim {

// The longest path a unix socket can be bound to: sizeof(sockaddr_un::sun_path)
// minus the terminating nul.
inline constexpr std::size_t kMaxSocketPathLength = 107;

// DESIGN.md §1, first match wins: the --run-dir value, $PVSIM_RUN_DIR,
// $XDG_RUNTIME_DIR/pvsim, /tmp/pvsim-<uid>. Empty variables count as unset;
// a relative $XDG_RUNTIME_DIR is ignored, as the XDG base directory
// specification requires. The result is absolute (relative to the current
// directory where --run-dir or $PVSIM_RUN_DIR were relative). Creates
// nothing. Throws ParseError for an empty --run-dir.
std::filesystem::path resolve_run_dir_path(std::optional<std::string_view> run_dir_arg,
                                           const os::Environment& env, uid_t uid = ::getuid());

class RunDir {
  public:
    // resolve_run_dir_path, then open().
    static RunDir resolve(std::optional<std::string_view> run_dir_arg, const os::Environment& env);

    // Creates the directory if missing (mode 0700, parents as needed) and the
    // daemons' subdirectories. Fails if it is not a directory, belongs to
    // another user, or is too long for its sockets to be bound.
    static RunDir open(const std::filesystem::path& path);

    // Canonical (symlinks resolved) path of the directory.
    const std::filesystem::path& path() const noexcept { return path_; }

    // pvsim-hypervisor's control socket: the CLI's privileged channel.
    std::filesystem::path hypervisor_socket() const;
    // pvsim-xenstored's socket, the one XENSTORED_PATH names for Debian's
    // xenstore-utils.
    std::filesystem::path xenstored_socket() const;
    // <run>/guests/<domid>.sock: the agent socket of a guest domain, through
    // which the CLI asks it about its disks and to run workloads (DESIGN.md
    // §1). The directory is made by open().
    std::filesystem::path guest_agent_socket(unsigned domid) const;
    // <run>/<process_name>.log: one log file per process (DESIGN.md §8).
    // process_name must be non-empty, without '/' and not start with '.'.
    std::filesystem::path log_file(std::string_view process_name) const;

    // Names this run among shared-memory objects (os::shm_name): 16 hex
    // digits of the FNV-1a hash of the canonical path. Every process derives
    // the same tag from the same directory, with no registry to keep.
    const std::string& shm_tag() const noexcept { return shm_tag_; }

  private:
    explicit RunDir(std::filesystem::path path);

    std::filesystem::path path_;
    std::string shm_tag_;
};

// Fails with a clear error if `socket_path` is too long to bind or connect.
void check_socket_path(const std::filesystem::path& socket_path);

}  // namespace pvsim
