// A dom0 hypercall connection spoken to byte by byte, to send what the
// client library never would: truncated, oversized and malformed messages.
#pragma once

#include <cstring>
#include <span>
#include <vector>

#include "common/os/unix_socket.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {

class RawConnection {
  public:
    explicit RawConnection(const HypervisorProcess& hv) : socket_(hv.control().connect_dom0()) {
        const Reply welcome = receive();
        if (welcome.header.op != static_cast<std::uint32_t>(hypervisor::wire::Op::welcome)) {
            throw std::runtime_error("the first message was not a welcome");
        }
    }

    struct Reply {
        hypervisor::wire::ReplyHeader header{};
        std::vector<std::byte> payload;
        std::vector<os::UniqueFd> fds;
        bool closed = false;  // the hypervisor closed the connection instead
    };

    void send_bytes(std::span<const std::byte> bytes) { os::send_with_fds(socket_.get(), bytes); }

    // A request with a header that says `length` and `payload` as the bytes
    // that really follow.
    void send_request(std::uint32_t op, std::uint32_t length, std::span<const std::byte> payload) {
        std::vector<std::byte> bytes(sizeof(hypervisor::wire::RequestHeader) + payload.size());
        const hypervisor::wire::RequestHeader header{op, length};
        std::memcpy(bytes.data(), &header, sizeof header);
        if (!payload.empty()) {
            std::memcpy(bytes.data() + sizeof header, payload.data(), payload.size());
        }
        send_bytes(bytes);
    }
    void send_request(hypervisor::wire::Op op, std::span<const std::byte> payload) {
        send_request(static_cast<std::uint32_t>(op), static_cast<std::uint32_t>(payload.size()),
                     payload);
    }

    Reply receive() {
        Reply reply;
        std::vector<std::byte> header(sizeof(hypervisor::wire::ReplyHeader));
        if (!read_exactly(header, &reply.fds)) {
            reply.closed = true;
            return reply;
        }
        std::memcpy(&reply.header, header.data(), header.size());
        reply.payload.resize(reply.header.length);
        if (!read_exactly(reply.payload, nullptr)) {
            reply.closed = true;
        }
        return reply;
    }

    template <typename T>
    static std::span<const std::byte> bytes_of(const T& value) {
        return std::as_bytes(std::span(&value, 1));
    }

  private:
    bool read_exactly(std::span<std::byte> buffer, std::vector<os::UniqueFd>* fds) {
        std::size_t done = 0;
        while (done < buffer.size()) {
            auto received =
                os::receive_with_fds(socket_.get(), buffer.subspan(done), os::kMaxFdsPerMessage);
            if (received.size == 0) {
                return false;
            }
            if (fds != nullptr) {
                for (auto& fd : received.fds) {
                    fds->push_back(std::move(fd));
                }
            }
            done += received.size;
        }
        return true;
    }

    os::UniqueFd socket_;
};

}  // namespace pvsim::test
