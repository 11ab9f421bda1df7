// The front-end's end of the vhost-user socket (QEMU
// docs/interop/vhost-user.rst, "Communication"): connecting to a device that
// may still be starting, and reading each answer with a deadline, so that a
// device that stops answering fails the caller instead of hanging it. The
// framing itself (header, payload, fds) is common/virtio/vhost_user_channel's.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>

#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user.hpp"
#include "common/virtio/vhost_user_channel.hpp"

namespace pvsim::frontend::virtio_blk {

// The device closed the socket, answered badly, or did not answer in time.
class VhostUserError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Connects to the listening socket at `path`, retrying while it does not
// exist yet or refuses (a device still starting) until `timeout` has passed.
// Throws VhostUserError saying why the last attempt failed.
os::UniqueFd connect_vhost_user(const std::filesystem::path& path,
                                std::chrono::milliseconds timeout);

// Sends one message; `payload` may be empty. Throws VhostUserError on a
// closed or failed socket (EPIPE is not a signal).
void send_vhost_user(int socket_fd, vhost_user::Request request, std::uint32_t flags,
                     std::span<const std::byte> payload, std::span<const int> fds = {});

// Reads one whole message once one starts arriving within `timeout`. Throws
// VhostUserError on a timeout, end of stream, a broken frame
// (vhost_user_channel's checks) or a header with an unsupported version.
vhost_user::Message receive_vhost_user(int socket_fd, std::chrono::milliseconds timeout);

}  // namespace pvsim::frontend::virtio_blk
