// Sends one message (bytes plus fds attached to its first byte, SCM_RIGHTS)
// on an Asio unix socket without ever blocking the loop: each sendmsg is
// non-blocking, and a full socket buffer waits for writability
// asynchronously. A peer that stops reading its replies thus stalls only
// itself, never the hypervisor or the other connections (DESIGN.md §8).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <boost/system/error_code.hpp>

#include "common/os/unique_fd.hpp"
#include "common/os/unix_socket.hpp"

namespace pvsim::hypervisor::server {

struct OutgoingMessage {
    std::vector<std::byte> bytes;  // not empty
    std::vector<os::UniqueFd> fds;
};

// Sends `message`, then calls `done` with the outcome (EPIPE / ECONNRESET
// when the peer has gone, operation_aborted when the socket was closed).
// The socket must outlive the operation or be closed first.
void async_send_message(os::LocalSocket& socket, OutgoingMessage message,
                        std::function<void(boost::system::error_code)> done);

}  // namespace pvsim::hypervisor::server
