// Sole owner of a file descriptor: every fd a pvsim process holds (sockets,
// eventfds, shared-memory objects, inherited connections) lives in one of
// these, so no early return or exception can leak one into a spawned child.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace pvsim::os {

// Every failing system call is reported the same way: what() reads
// "<call> <object>: <strerror>", e.g. "open /run/x: No such file or directory",
// and code() keeps the errno for callers that branch on it.
[[noreturn]] inline void throw_system_error(std::string_view what, int err = errno) {
    throw std::system_error(err, std::system_category(), std::string(what));
}

class UniqueFd {
  public:
    UniqueFd() noexcept = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() { reset(); }

    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    // Gives up ownership; the caller now closes the fd.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    // Closes the current fd (if any) and takes ownership of `fd`. close() is
    // not retried on EINTR: on Linux the fd is released even then, and a
    // retry could close an fd another thread has just been given.
    void reset(int fd = -1) noexcept {
        const int old = std::exchange(fd_, fd);
        if (old >= 0) {
            ::close(old);
        }
    }

  private:
    int fd_ = -1;
};

// A second, close-on-exec descriptor for the same open file (F_DUPFD_CLOEXEC),
// e.g. to keep an eventfd while handing a copy to another process.
inline UniqueFd duplicate_fd(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        throw_system_error("fcntl(F_DUPFD_CLOEXEC) fd " + std::to_string(fd));
    }
    return UniqueFd(copy);
}

// Takes ownership of an fd this process inherited from its parent (its
// number usually arrives on the command line). Checks that it is open, so a
// wrong number fails here with a clear message rather than later, and marks
// it close-on-exec so it is not passed on to this process's own children.
inline UniqueFd adopt_inherited_fd(int fd) {
    if (fd < 0) {
        throw std::system_error(EBADF, std::system_category(),
                                "inherited fd " + std::to_string(fd));
    }
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) {
        throw_system_error("inherited fd " + std::to_string(fd));
    }
    if (::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
        throw_system_error("fcntl(F_SETFD) inherited fd " + std::to_string(fd));
    }
    return UniqueFd(fd);
}

}  // namespace pvsim::os
