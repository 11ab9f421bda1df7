#include "common/os/event_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <string>
#include <string_view>

namespace pvsim::os {
namespace {

// An eventfd is an anonymous inode whose /proc/self/fd link reads
// "anon_inode:[eventfd]"; that is the only way Linux offers to tell one from
// another kind of fd. Without /proc the fd is given the benefit of the doubt.
bool is_eventfd(int fd) {
    char target[64] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n < 0) {
        return true;
    }
    return std::string_view(target, static_cast<std::size_t>(n)) == "anon_inode:[eventfd]";
}

void wait_readable(int fd) {
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    while (::poll(&pfd, 1, -1) < 0) {
        if (errno != EINTR) {
            throw_system_error("poll eventfd");
        }
    }
}

}  // namespace

EventFd::EventFd(Options options) {
    int flags = EFD_CLOEXEC;
    if (options.nonblocking) {
        flags |= EFD_NONBLOCK;
    }
    if (options.semaphore) {
        flags |= EFD_SEMAPHORE;
    }
    fd_.reset(::eventfd(0, flags));
    if (!fd_) {
        throw_system_error("eventfd");
    }
    nonblocking_ = options.nonblocking;
}

EventFd::EventFd(UniqueFd fd) : fd_(std::move(fd)) {
    if (!fd_) {
        throw std::system_error(EBADF, std::system_category(), "eventfd: no fd given");
    }
    const int status = ::fcntl(fd_.get(), F_GETFL);
    if (status < 0) {
        throw_system_error("eventfd fd " + std::to_string(fd_.get()));
    }
    nonblocking_ = (status & O_NONBLOCK) != 0;
    if (!is_eventfd(fd_.get())) {
        throw std::system_error(EINVAL, std::system_category(),
                                "eventfd: fd " + std::to_string(fd_.get()) + " is not an eventfd");
    }
}

void EventFd::signal(std::uint64_t count) {
    for (;;) {
        const ssize_t n = ::write(fd_.get(), &count, sizeof(count));
        if (n == static_cast<ssize_t>(sizeof(count))) {
            return;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;  // counter saturated: a wake-up is pending anyway
        }
        throw_system_error("write eventfd");
    }
}

std::uint64_t EventFd::read_once(bool may_block) {
    if (!may_block && !nonblocking_) {
        // A blocking fd must not be read unless readable. With several
        // readers of one blocking fd another may still win the race between
        // poll and read; readers that share an fd should make it non-blocking.
        pollfd pfd{.fd = fd_.get(), .events = POLLIN, .revents = 0};
        int ready;
        while ((ready = ::poll(&pfd, 1, 0)) < 0 && errno == EINTR) {
        }
        if (ready < 0) {
            throw_system_error("poll eventfd");
        }
        if (ready == 0) {
            return 0;
        }
    }
    std::uint64_t value = 0;
    for (;;) {
        const ssize_t n = ::read(fd_.get(), &value, sizeof(value));
        if (n == static_cast<ssize_t>(sizeof(value))) {
            return value;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return 0;
        }
        throw_system_error("read eventfd");
    }
}

std::uint64_t EventFd::try_consume() {
    return read_once(false);
}

std::uint64_t EventFd::wait() {
    for (;;) {
        // On a blocking fd the read itself waits. On a non-blocking one it
        // answers 0 (EAGAIN) when empty, or when another reader emptied the
        // counter after poll reported it readable: then poll again.
        if (const std::uint64_t value = read_once(true); value != 0) {
            return value;
        }
        wait_readable(fd_.get());
    }
}

}  // namespace pvsim::os
