// An eventfd(2): the wake-up primitive of pvsim's event channels once bound
// (DESIGN.md §3: "an eventfd per bound channel, handed to both ends") and of
// vhost-user's kick and call notifications (vhost-user.rst, "kick"/"call").
// The counter crosses processes: whoever holds a copy of the fd (inherited,
// or received over a unix socket) can signal or wait.
#pragma once

#include <cstdint>

#include "common/os/unique_fd.hpp"

namespace pvsim::os {

class EventFd {
  public:
    struct Options {
        // O_NONBLOCK on the open file description. It is shared by every copy
        // of the fd, in every process, so both ends should agree on it.
        bool nonblocking = false;
        // EFD_SEMAPHORE: each read takes 1 from the counter instead of all of it.
        bool semaphore = false;
    };

    // A new eventfd with counter 0, close-on-exec.
    EventFd() : EventFd(Options{}) {}
    explicit EventFd(Options options);
    // Takes over an eventfd received from another process (inherited or over
    // SCM_RIGHTS). Fails if `fd` is not an eventfd.
    explicit EventFd(UniqueFd fd);

    // Adds `count` (>= 1) to the counter, waking a waiter. If the counter is
    // already at its maximum on a non-blocking fd the wake-up is already
    // pending, so the call succeeds without adding.
    void signal(std::uint64_t count = 1);

    // Takes the counter (or 1, in semaphore mode) if it is non-zero; 0 if
    // there was nothing to take. Never blocks, whether or not the fd is
    // non-blocking.
    std::uint64_t try_consume();

    // Blocks until the counter is non-zero, then takes it (or 1). Works on
    // non-blocking fds too (it polls). Retries on EINTR.
    std::uint64_t wait();

    int fd() const noexcept { return fd_.get(); }
    // A close-on-exec copy of the fd, to hand to another process.
    UniqueFd duplicate() const { return duplicate_fd(fd_.get()); }
    // Gives up the fd (e.g. to pass it on); the EventFd is then empty.
    UniqueFd release() noexcept { return std::move(fd_); }

  private:
    // One read(2): the value read, or 0 if it would block.
    std::uint64_t read_once(bool may_block);

    UniqueFd fd_;
    // O_NONBLOCK as found at construction; lets try_consume() read directly
    // instead of polling first.
    bool nonblocking_ = false;
};

}  // namespace pvsim::os
