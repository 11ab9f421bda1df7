#include "hypervisor/client/hypercall_channel.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/os/unix_socket.hpp"

namespace pvsim::hypervisor {
namespace {

std::string call_name(wire::Op op) {
    return std::string("hypercall ") + wire::op_name(op);
}

}  // namespace

HypercallChannel::HypercallChannel(os::UniqueFd socket) : socket_(std::move(socket)) {
    if (!socket_) {
        throw std::invalid_argument("HypercallChannel: no socket");
    }
}

HypercallReply HypercallChannel::receive_welcome() {
    std::lock_guard lock(mutex_);
    return receive_reply(wire::Op::welcome);
}

HypercallReply HypercallChannel::call(wire::Op op, std::span<const std::byte> payload) {
    if (payload.size() > wire::kMaxPayload) {
        // The hypervisor would close the connection (hypercall.hpp, framing).
        throw HypercallError(call_name(op) + ": " + std::to_string(payload.size()) +
                                 " payload bytes, at most " + std::to_string(wire::kMaxPayload),
                             E2BIG);
    }
    std::lock_guard lock(mutex_);
    if (broken_) {
        throw HypercallError(call_name(op) + ": the connection failed earlier", ECONNRESET);
    }
    std::vector<std::byte> message(sizeof(wire::RequestHeader) + payload.size());
    const wire::RequestHeader header{static_cast<std::uint32_t>(op),
                                     static_cast<std::uint32_t>(payload.size())};
    std::memcpy(message.data(), &header, sizeof header);
    if (!payload.empty()) {
        std::memcpy(message.data() + sizeof header, payload.data(), payload.size());
    }
    try {
        os::send_with_fds(socket_.get(), message);
    } catch (const std::system_error& e) {
        broken_ = true;
        const int error = e.code().value() == EPIPE ? ECONNRESET : e.code().value();
        throw HypercallError(call_name(op) + ": " + e.what(), error);
    }
    return receive_reply(op);
}

void HypercallChannel::read_exactly(std::span<std::byte> buffer, std::vector<os::UniqueFd>& fds,
                                    wire::Op expected) {
    std::size_t done = 0;
    while (done < buffer.size()) {
        os::ReceivedData received;
        try {
            received =
                os::receive_with_fds(socket_.get(), buffer.subspan(done), os::kMaxFdsPerMessage);
        } catch (const std::system_error& e) {
            broken_ = true;
            throw HypercallError(call_name(expected) + ": " + e.what(), e.code().value());
        }
        if (received.size == 0) {
            broken_ = true;
            throw HypercallError(call_name(expected) + ": connection closed by pvsim-hypervisor",
                                 ECONNRESET);
        }
        for (auto& fd : received.fds) {
            fds.push_back(std::move(fd));
        }
        done += received.size;
    }
}

HypercallReply HypercallChannel::receive_reply(wire::Op expected) {
    HypercallReply reply;
    wire::ReplyHeader header{};
    read_exactly(std::as_writable_bytes(std::span(&header, 1)), reply.fds, expected);
    auto protocol_error = [&](const std::string& why) {
        // The stream can no longer be trusted to be at a message boundary.
        broken_ = true;
        return HypercallError(call_name(expected) + ": " + why, EPROTO);
    };
    if (header.op != static_cast<std::uint32_t>(expected)) {
        throw protocol_error("the reply is for op " + std::to_string(header.op));
    }
    if (header.length > wire::kMaxPayload) {
        throw protocol_error("reply of " + std::to_string(header.length) +
                             " bytes, more than the protocol allows");
    }
    reply.result = header.result;
    reply.payload.resize(header.length);
    if (header.length > 0) {
        read_exactly(reply.payload, reply.fds, expected);
    }
    if (reply.fds.size() != header.fds) {
        throw protocol_error("the reply announced " + std::to_string(header.fds) +
                             " fds and carried " + std::to_string(reply.fds.size()));
    }
    return reply;
}

}  // namespace pvsim::hypervisor
