#include "common/virtio/vhost_user_channel.hpp"

#include <system_error>

#include "common/os/unix_socket.hpp"

namespace pvsim::vhost_user {
namespace {

// Fills `buffer` completely, collecting the fds that come along. False when
// the stream ended before the first byte; ChannelError when it ended later.
bool read_exactly(int socket_fd, std::span<std::byte> buffer, std::vector<os::UniqueFd>& fds,
                  const char* what) {
    std::size_t done = 0;
    while (done < buffer.size()) {
        os::ReceivedData received;
        try {
            received = os::receive_with_fds(socket_fd, buffer.subspan(done), kMaxFds - fds.size());
        } catch (const std::system_error& e) {
            throw ChannelError(std::string("reading a vhost-user ") + what + ": " + e.what());
        }
        for (os::UniqueFd& fd : received.fds) {
            fds.push_back(std::move(fd));
        }
        if (received.size == 0) {
            if (done == 0) {
                return false;
            }
            throw ChannelError(std::string("the peer closed the connection inside a vhost-user ") +
                               what + " (" + std::to_string(done) + " of " +
                               std::to_string(buffer.size()) + " bytes)");
        }
        done += received.size;
    }
    return true;
}

}  // namespace

Message receive_message(int socket_fd) {
    Message message;
    if (!read_exactly(socket_fd, std::as_writable_bytes(std::span(&message.header, 1)), message.fds,
                      "header")) {
        throw ChannelClosed();
    }
    if (message.header.size > kMaxPayloadSize) {
        throw ChannelError("vhost-user message " + std::string(name(message.request())) + " (" +
                           std::to_string(message.header.request) + ") announces a " +
                           std::to_string(message.header.size) + "-byte payload, more than the " +
                           std::to_string(kMaxPayloadSize) + " allowed");
    }
    message.payload.resize(message.header.size);
    if (!message.payload.empty() &&
        !read_exactly(socket_fd, message.payload, message.fds, "payload")) {
        throw ChannelError("the peer closed the connection before the payload of " +
                           std::string(name(message.request())));
    }
    return message;
}

void send_message(int socket_fd, Header header, std::span<const std::byte> payload,
                  std::span<const int> fds) {
    header.size = static_cast<std::uint32_t>(payload.size());
    std::vector<std::byte> bytes(kHeaderSize + payload.size());
    std::memcpy(bytes.data(), &header, kHeaderSize);
    if (!payload.empty()) {
        std::memcpy(bytes.data() + kHeaderSize, payload.data(), payload.size());
    }
    try {
        os::send_with_fds(socket_fd, bytes, fds);
    } catch (const std::system_error& e) {
        throw ChannelError("sending vhost-user " +
                           std::string(name(static_cast<Request>(header.request))) + ": " +
                           e.what());
    }
}

}  // namespace pvsim::vhost_user
