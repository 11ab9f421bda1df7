// One vhost-user message at a time over a connected unix stream socket
// (QEMU docs/interop/vhost-user.rst, "Communication"): a 12-byte Header, then
// `size` bytes of payload, with any fds (memory regions, kick/call eventfds)
// travelling as SCM_RIGHTS ancillary data alongside. Both ends use it: the
// device reads requests and writes replies, a front-end the other way round.
//
// What a reader refuses, whatever the message means: a payload larger than
// kMaxPayloadSize (checked before reading it, as libvhost-user's
// vu_message_read does), more than kMaxFds fds, and end of stream in the
// middle of a message. Whether the header's version, the request number or
// the payload size make sense for that request is the caller's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user.hpp"

namespace pvsim::vhost_user {

// The peer broke the framing (oversized payload, too many fds, end of stream
// inside a message) or the socket failed: the connection cannot go on.
class ChannelError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The peer closed the connection cleanly, between two messages.
class ChannelClosed : public ChannelError {
  public:
    ChannelClosed() : ChannelError("the peer closed the connection") {}
};

struct Message {
    Header header{};
    std::vector<std::byte> payload;  // header.size bytes
    std::vector<os::UniqueFd> fds;   // in the order they were sent

    Request request() const noexcept { return static_cast<Request>(header.request); }

    // The payload as a T when it is exactly sizeof(T) bytes; empty otherwise.
    template <typename T>
    std::optional<T> payload_as() const {
        if (payload.size() != sizeof(T)) {
            return std::nullopt;
        }
        T value;
        std::memcpy(&value, payload.data(), sizeof(T));
        return value;
    }
    // The u64 payload of GET_FEATURES replies, SET_FEATURES, the REPLY_ACK
    // answer, SET_VRING_KICK/CALL/ERR...
    std::optional<std::uint64_t> u64() const { return payload_as<std::uint64_t>(); }

    // Takes the message's fds out (the message keeps none).
    std::vector<os::UniqueFd> take_fds() { return std::move(fds); }
};

// Reads one whole message: the header (and the fds sent with it), then the
// payload. Blocks (a non-blocking socket is polled). Throws ChannelClosed at a
// clean end of stream and ChannelError for everything listed above.
Message receive_message(int socket_fd);

// Sends one message (header then payload, in one go) with `fds` attached.
// header.size is set from the payload. Throws ChannelError when the socket
// fails (EPIPE once the peer has gone).
void send_message(int socket_fd, Header header, std::span<const std::byte> payload = {},
                  std::span<const int> fds = {});

// A request with a plain payload (struct or u64), as a front-end sends it.
template <typename T>
void send_request(int socket_fd, Request request, const T& payload, bool need_reply = false,
                  std::span<const int> fds = {}) {
    send_message(socket_fd,
                 Header{static_cast<std::uint32_t>(request), request_flags(need_reply), 0},
                 std::as_bytes(std::span(&payload, 1)), fds);
}
inline void send_request(int socket_fd, Request request, bool need_reply = false) {
    send_message(socket_fd,
                 Header{static_cast<std::uint32_t>(request), request_flags(need_reply), 0});
}

// The back-end's reply to `request`: reply flags, the same request number.
template <typename T>
void send_reply(int socket_fd, Request request, const T& payload) {
    send_message(socket_fd, Header{static_cast<std::uint32_t>(request), reply_flags(), 0},
                 std::as_bytes(std::span(&payload, 1)));
}

}  // namespace pvsim::vhost_user
