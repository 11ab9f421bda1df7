// The xenstored end of a client's socket, scripted by the test: it reads the
// requests the client sent and answers each with whatever canned xs_wire
// frame the test gives, in any order, so that these tests are about what the
// client does with replies, errors, watch events and a peer that goes away.
// The real daemon's behaviour is tested against pvsim-xenstored itself.
#pragma once

#include <poll.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/os/unix_socket.hpp"
#include "common/xen/xs_wire.hpp"
#include "xenstore/client/transport.hpp"

namespace pvsim::xenstore::client::test {

using xen::xs::MessageType;

// Literal payloads with their embedded nuls (a std::string from a char
// pointer would stop at the first): wire("a\0b\0") is 4 bytes.
inline std::string wire(std::string_view text) {
    return std::string(text);
}
template <std::size_t N>
std::string wire(const char (&text)[N]) {
    return std::string(text, N - 1);
}

// Fields each followed by a nul, as the client sends them:
// fields({"3", "1"}) is "3\0" "1\0" (a literal "3\01" would be octal).
inline std::string fields(std::initializer_list<std::string_view> parts) {
    std::string payload;
    for (std::string_view part : parts) {
        payload += part;
        payload += '\0';
    }
    return payload;
}

class ScriptedXenstored {
  public:
    explicit ScriptedXenstored(os::UniqueFd socket) : socket_(std::move(socket)) {}

    // The next request the client sent (blocking).
    Message read_request() {
        Message message;
        read_exactly(&message.header, sizeof message.header);
        message.payload.resize(message.header.len);
        read_exactly(message.payload.data(), message.payload.size());
        return message;
    }

    // Reads the next request and checks its type.
    Message expect(MessageType type) {
        Message request = read_request();
        if (request.type() != type) {
            throw std::runtime_error("expected " + std::string(xen::xs::name(type)) + ", got " +
                                     std::string(xen::xs::name(request.type())));
        }
        return request;
    }

    // A reply of the request's own type, echoing its req_id and tx_id.
    void reply(const Message& request, std::string_view payload) {
        send(request.type(), request.header.req_id, request.header.tx_id, payload);
    }
    void reply_ok(const Message& request) { reply(request, wire("OK\0")); }
    // XS_ERROR with an errno's name, nul-terminated as xenstored sends it.
    void reply_error(const Message& request, std::string_view name) {
        send(MessageType::error, request.header.req_id, request.header.tx_id,
             std::string(name) + '\0');
    }
    void watch_event(std::string_view path, std::string_view token) {
        send(MessageType::watch_event, 0, 0, std::string(path) + '\0' + std::string(token) + '\0');
    }

    void send(MessageType type, std::uint32_t req_id, std::uint32_t tx_id,
              std::string_view payload) {
        const xen::xs::MessageHeader header{static_cast<std::uint32_t>(type), req_id, tx_id,
                                            static_cast<std::uint32_t>(payload.size())};
        send_raw(header, payload);
    }
    void send_raw(const xen::xs::MessageHeader& header, std::string_view payload) {
        std::vector<std::byte> bytes(sizeof header + payload.size());
        std::memcpy(bytes.data(), &header, sizeof header);
        if (!payload.empty()) {
            std::memcpy(bytes.data() + sizeof header, payload.data(), payload.size());
        }
        os::send_with_fds(socket_.get(), bytes);
    }

    // Whether the client has sent nothing more (within `wait_ms`).
    bool nothing_sent(int wait_ms = 50) {
        pollfd pfd{.fd = socket_.get(), .events = POLLIN, .revents = 0};
        return ::poll(&pfd, 1, wait_ms) == 0;
    }

    void hang_up() { socket_.reset(); }

  private:
    void read_exactly(void* data, std::size_t size) {
        auto* bytes = static_cast<std::byte*>(data);
        std::size_t done = 0;
        while (done < size) {
            const auto received =
                os::receive_with_fds(socket_.get(), std::span(bytes + done, size - done), 0);
            if (received.size == 0) {
                throw std::runtime_error("the client closed the connection");
            }
            done += received.size;
        }
    }

    os::UniqueFd socket_;
};

}  // namespace pvsim::xenstore::client::test
