// A spawned child process, owned like any other resource: the hypervisor
// spawns every domain process and hands it its hypercall connection as an
// inherited fd (DESIGN.md §1), and tests start real peer processes.
//
// Written on posix_spawn rather than Boost.Process because what matters here
// is exact control of which fds the child inherits and at which numbers
// (everything else is closed in the child), and Boost.Process would add a
// compiled Boost.Filesystem dependency for less control over that.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/os/cpu_list.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::os {

// An fd of this process that the child receives as `child_fd`.
struct InheritedFd {
    int parent_fd;
    int child_fd;
};

struct SpawnOptions {
    // The fds the child gets. stdin, stdout and stderr are shared with this
    // process unless an entry names 0, 1 or 2 as its child_fd (e.g. a
    // domain's console file as its stdout and stderr). Every other fd is
    // closed in the child.
    std::vector<InheritedFd> fds;
    // "NAME=value" strings; nullopt passes this process's environment.
    std::optional<std::vector<std::string>> environment;
    // setsid(2) in the child: a daemon `pvsim up` starts outlives the
    // terminal's process group (a Ctrl-C meant for the CLI is not its).
    bool new_session = false;
    // The CPUs the child and every thread of it may run on (a domain's
    // xl.cfg cpus=); nullopt leaves it this thread's.
    std::optional<CpuList> cpus;
};

// How a child ended: exited with `code`, or killed by `signal`.
struct ExitStatus {
    int code = -1;
    int signal = 0;

    bool exited() const noexcept { return signal == 0; }
    bool success() const noexcept { return signal == 0 && code == 0; }
    // "exited with status 3" / "killed by signal 9 (Killed)", for errors and logs.
    std::string describe() const;
};

// A pidfd (pidfd_open(2)) of any process, child or not: readable once it
// ends. Empty when there is no such process (errno ESRCH), or the kernel
// refuses one. Close-on-exec.
UniqueFd pidfd_of(pid_t pid) noexcept;

class ChildProcess {
  public:
    // Starts `program` (a path, not searched in $PATH) with argv[0] = program
    // and argv[1..] = args.
    static ChildProcess spawn(const std::filesystem::path& program,
                              const std::vector<std::string>& args,
                              const SpawnOptions& options = {});

    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    // A child still running is killed (SIGKILL) and reaped: an owner that goes
    // away leaves neither an orphan nor a zombie behind.
    ~ChildProcess();

    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0; }

    // Gives up ownership: the child lives on and is not reaped here (its
    // new parent, or SIGCHLD set to SIG_IGN, reaps it). Returns its pid.
    pid_t release() noexcept;

    // Blocks until the child ends and reaps it. Retries on EINTR.
    ExitStatus wait();
    // Reaps the child if it has ended; nullopt while it runs.
    std::optional<ExitStatus> try_wait();
    // Sends `signal` to a child not yet reaped.
    void kill(int signal);

    // A new pidfd for the child (pidfd_open(2)): it becomes readable when the
    // child ends, so an event loop can await the child's death with its
    // other fds (e.g. an Asio posix::stream_descriptor) instead of relying
    // on SIGCHLD, which a process has only one handler for. Reaping is still
    // wait()/try_wait()'s job. Close-on-exec.
    UniqueFd open_pidfd() const;

  private:
    explicit ChildProcess(pid_t pid) noexcept : pid_(pid) {}
    void terminate() noexcept;

    pid_t pid_ = -1;
};

}  // namespace pvsim::os
