// Waits, on a thread of its own, for the peer of a connected unix socket to
// hang up, and then calls `on_hangup` once, on that thread. What a pvsim
// process learns that its host died by (DESIGN.md §1, "The host"): the
// hypervisor's end of its hypercall connection closing, whether the
// hypervisor stopped or was killed.
//
// poll(2) asks for POLLRDHUP alone on a copy of the socket: a reply
// arriving does not wake the thread, so the replies stay for whoever reads
// them (the hypercall channel, from any thread), while the peer's close
// (POLLRDHUP, POLLHUP) or an error does (unix_poll / unix_dgram_poll in
// Linux's net/unix/af_unix.c).
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "common/os/event_fd.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::os {

class HangupWatch {
  public:
    // Watches `socket_fd` (a copy is taken: the caller keeps its fd).
    // `on_hangup` may block or end the process; it is not called once the
    // watch is being destroyed.
    HangupWatch(int socket_fd, std::function<void()> on_hangup);
    // Stops the thread and joins it.
    ~HangupWatch();
    HangupWatch(const HangupWatch&) = delete;
    HangupWatch& operator=(const HangupWatch&) = delete;

  private:
    void run();

    UniqueFd socket_;
    EventFd stop_;
    std::function<void()> on_hangup_;
    std::thread thread_;
};

}  // namespace pvsim::os
