#include "common/os/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <utility>

#include "common/os/unique_fd.hpp"

extern char** environ;

namespace pvsim::os {
namespace {

// posix_spawn_file_actions_t and posix_spawnattr_t must be destroyed on
// every path out of spawn().
class FileActions {
  public:
    FileActions() {
        if (const int err = ::posix_spawn_file_actions_init(&actions_); err != 0) {
            throw_system_error("posix_spawn_file_actions_init", err);
        }
    }
    ~FileActions() { ::posix_spawn_file_actions_destroy(&actions_); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

  private:
    posix_spawn_file_actions_t actions_;
};

class SpawnAttributes {
  public:
    SpawnAttributes() {
        if (const int err = ::posix_spawnattr_init(&attributes_); err != 0) {
            throw_system_error("posix_spawnattr_init", err);
        }
    }
    ~SpawnAttributes() { ::posix_spawnattr_destroy(&attributes_); }
    SpawnAttributes(const SpawnAttributes&) = delete;
    SpawnAttributes& operator=(const SpawnAttributes&) = delete;
    posix_spawnattr_t* get() { return &attributes_; }

  private:
    posix_spawnattr_t attributes_;
};

ExitStatus decode(int status) {
    ExitStatus result;
    if (WIFEXITED(status)) {
        result.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    return result;
}

}  // namespace

std::string ExitStatus::describe() const {
    if (signal != 0) {
        const char* description = ::sigdescr_np(signal);  // thread-safe, unlike strsignal
        return "killed by signal " + std::to_string(signal) + " (" +
               (description != nullptr ? description : "unknown") + ")";
    }
    return "exited with status " + std::to_string(code);
}

ChildProcess ChildProcess::spawn(const std::filesystem::path& program,
                                 const std::vector<std::string>& args,
                                 const SpawnOptions& options) {
    const std::string what = "posix_spawn " + program.string();
    int highest_target = STDERR_FILENO;
    for (const InheritedFd& fd : options.fds) {
        if (fd.child_fd < 0) {
            throw std::system_error(
                EINVAL, std::system_category(),
                what + ": child fd " + std::to_string(fd.child_fd) + " is not an fd number");
        }
        if (std::count_if(options.fds.begin(), options.fds.end(), [&fd](const InheritedFd& other) {
                return other.child_fd == fd.child_fd;
            }) > 1) {
            throw std::system_error(
                EINVAL, std::system_category(),
                what + ": child fd " + std::to_string(fd.child_fd) + " given twice");
        }
        highest_target = std::max(highest_target, fd.child_fd);
    }

    // dup2(a, b) in the child could overwrite a source fd a later dup2 still
    // needs, and dup2(a, a) would leave a close-on-exec fd closing at exec.
    // Copies above every target number avoid both.
    std::vector<UniqueFd> sources;
    sources.reserve(options.fds.size());
    for (const InheritedFd& fd : options.fds) {
        const int copy = ::fcntl(fd.parent_fd, F_DUPFD_CLOEXEC, highest_target + 1);
        if (copy < 0) {
            throw_system_error(what + ": fd " + std::to_string(fd.parent_fd));
        }
        sources.emplace_back(copy);
    }

    FileActions actions;
    for (std::size_t i = 0; i < options.fds.size(); ++i) {
        if (const int err = ::posix_spawn_file_actions_adddup2(actions.get(), sources[i].get(),
                                                               options.fds[i].child_fd);
            err != 0) {
            throw_system_error(what + ": adddup2", err);
        }
    }
    // Whatever else is open here (sockets of other domains, listening
    // sockets) must not leak into the child, close-on-exec or not: close the
    // numbers between the targets, then everything above them. (glibc's
    // posix_spawn ignores a close action on an fd that is not open.)
    for (int fd = STDERR_FILENO + 1; fd < highest_target; ++fd) {
        const bool is_target = std::any_of(options.fds.begin(), options.fds.end(),
                                           [fd](const InheritedFd& i) { return i.child_fd == fd; });
        if (is_target) {
            continue;
        }
        if (const int err = ::posix_spawn_file_actions_addclose(actions.get(), fd); err != 0) {
            throw_system_error(what + ": addclose", err);
        }
    }
    if (const int err =
            ::posix_spawn_file_actions_addclosefrom_np(actions.get(), highest_target + 1);
        err != 0) {
        throw_system_error(what + ": addclosefrom", err);
    }

    const std::string program_string = program.string();
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program_string.c_str()));
    for (const std::string& arg : args) {
        argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);

    std::vector<char*> envp;
    char** env = environ;
    if (options.environment) {
        for (const std::string& entry : *options.environment) {
            envp.push_back(const_cast<char*>(entry.c_str()));
        }
        envp.push_back(nullptr);
        env = envp.data();
    }

    // The child starts with every signal unblocked and at its default
    // action: a disposition of SIG_IGN (the CLI ignores SIGCHLD, the
    // daemons SIGPIPE) or a mask set by the spawning thread would otherwise
    // survive exec.
    SpawnAttributes attributes;
    sigset_t signals;
    ::sigemptyset(&signals);
    ::posix_spawnattr_setsigmask(attributes.get(), &signals);
    ::sigfillset(&signals);
    ::sigdelset(&signals, SIGKILL);
    ::sigdelset(&signals, SIGSTOP);
    ::posix_spawnattr_setsigdefault(attributes.get(), &signals);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (options.new_session) {
        flags |= POSIX_SPAWN_SETSID;
    }
    if (const int err = ::posix_spawnattr_setflags(attributes.get(), flags); err != 0) {
        throw_system_error(what + ": posix_spawnattr_setflags", err);
    }

    std::optional<ThreadAffinityScope> pinned;
    if (options.cpus) {
        pinned.emplace(*options.cpus);
    }
    pid_t pid = -1;
    if (const int err = ::posix_spawn(&pid, program_string.c_str(), actions.get(), attributes.get(),
                                      argv.data(), env);
        err != 0) {
        throw_system_error(what, err);
    }
    return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        terminate();
        pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
}

pid_t ChildProcess::release() noexcept {
    return std::exchange(pid_, -1);
}

ChildProcess::~ChildProcess() {
    terminate();
}

void ChildProcess::terminate() noexcept {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

ExitStatus ChildProcess::wait() {
    if (pid_ <= 0) {
        throw std::system_error(ECHILD, std::system_category(), "waitpid: no child to wait for");
    }
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) {
            throw_system_error("waitpid " + std::to_string(pid_));
        }
    }
    pid_ = -1;
    return decode(status);
}

std::optional<ExitStatus> ChildProcess::try_wait() {
    if (pid_ <= 0) {
        throw std::system_error(ECHILD, std::system_category(), "waitpid: no child to wait for");
    }
    int status = 0;
    pid_t done;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) < 0) {
        if (errno != EINTR) {
            throw_system_error("waitpid " + std::to_string(pid_));
        }
    }
    if (done == 0) {
        return std::nullopt;
    }
    pid_ = -1;
    return decode(status);
}

UniqueFd pidfd_of(pid_t pid) noexcept {
    // pidfds are always close-on-exec (pidfd_open(2)). Called through
    // syscall(2) so that this builds against a C library without the wrapper.
    return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

UniqueFd ChildProcess::open_pidfd() const {
    if (pid_ <= 0) {
        throw std::system_error(ESRCH, std::system_category(), "pidfd_open: child already reaped");
    }
    UniqueFd fd = pidfd_of(pid_);
    if (!fd) {
        throw_system_error("pidfd_open " + std::to_string(pid_));
    }
    return fd;
}

void ChildProcess::kill(int signal) {
    if (pid_ <= 0) {
        throw std::system_error(ESRCH, std::system_category(), "kill: child already reaped");
    }
    if (::kill(pid_, signal) < 0) {
        throw_system_error("kill " + std::to_string(pid_));
    }
}

}  // namespace pvsim::os
