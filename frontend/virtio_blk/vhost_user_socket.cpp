#include "frontend/virtio_blk/vhost_user_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

namespace pvsim::frontend::virtio_blk {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `fd` is readable (or hung up) before `deadline`.
void wait_readable(int fd, Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            throw VhostUserError("no answer from the device in time");
        }
        pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (n > 0) {
            return;
        }
        if (n < 0 && errno != EINTR) {
            throw VhostUserError(std::string("poll: ") + std::strerror(errno));
        }
    }
}

}  // namespace

os::UniqueFd connect_vhost_user(const std::filesystem::path& path,
                                std::chrono::milliseconds timeout) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string text = path.string();
    if (text.empty() || text.size() >= sizeof(address.sun_path)) {
        throw VhostUserError("socket path '" + text + "' is empty or longer than " +
                             std::to_string(sizeof(address.sun_path) - 1) + " bytes");
    }
    std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
    const Clock::time_point deadline = Clock::now() + timeout;
    for (;;) {
        os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) {
            throw VhostUserError(std::string("socket: ") + std::strerror(errno));
        }
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) ==
            0) {
            return fd;
        }
        const int err = errno;
        const bool device_not_ready = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
        if (err != EINTR && (!device_not_ready || Clock::now() >= deadline)) {
            throw VhostUserError("connect " + text + ": " + std::strerror(err));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void send_vhost_user(int socket_fd, vhost_user::Request request, std::uint32_t flags,
                     std::span<const std::byte> payload, std::span<const int> fds) {
    try {
        vhost_user::send_message(socket_fd,
                                 vhost_user::Header{static_cast<std::uint32_t>(request), flags, 0},
                                 payload, fds);
    } catch (const vhost_user::ChannelError& e) {
        throw VhostUserError(e.what());
    }
}

vhost_user::Message receive_vhost_user(int socket_fd, std::chrono::milliseconds timeout) {
    wait_readable(socket_fd, Clock::now() + timeout);
    vhost_user::Message message;
    try {
        message = vhost_user::receive_message(socket_fd);
    } catch (const vhost_user::ChannelClosed&) {
        throw VhostUserError("the device closed the connection");
    } catch (const vhost_user::ChannelError& e) {
        throw VhostUserError(e.what());
    }
    if (!vhost_user::has_supported_version(message.header.flags)) {
        throw VhostUserError("message with version " +
                             std::to_string(vhost_user::flags_version(message.header.flags)) +
                             " (only 1 is defined)");
    }
    return message;
}

}  // namespace pvsim::frontend::virtio_blk
