// The far end of a hypercall connection made from a socketpair, scripted by
// the test: replies are written before the call that reads them (the socket
// buffers them), and the requests the client sent are read back afterwards
// to check them. It answers only what a test tells it to, which is the point:
// these tests are about what the client does with good and bad replies.
// Real hypervisor behaviour is tested against the real daemon in
// tests/integration/hypervisor.
#pragma once

#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

#include "common/os/shared_memory.hpp"
#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::hypervisor::test {

template <typename T>
std::span<const std::byte> bytes_of(const T& value) {
    return std::as_bytes(std::span(&value, 1));
}

// A batch payload: BatchHeader then the structs.
template <typename T>
std::vector<std::byte> batch_payload(const std::vector<T>& ops) {
    const wire::BatchHeader header{static_cast<std::uint32_t>(ops.size()), 0};
    std::vector<std::byte> payload(sizeof header + ops.size() * sizeof(T));
    std::memcpy(payload.data(), &header, sizeof header);
    std::memcpy(payload.data() + sizeof header, ops.data(), ops.size() * sizeof(T));
    return payload;
}

template <typename T>
std::vector<T> batch_ops(const std::vector<std::byte>& payload) {
    wire::BatchHeader header{};
    std::memcpy(&header, payload.data(), sizeof header);
    std::vector<T> ops(header.count);
    std::memcpy(ops.data(), payload.data() + sizeof header, ops.size() * sizeof(T));
    return ops;
}

struct Request {
    wire::RequestHeader header{};
    std::vector<std::byte> payload;

    wire::Op op() const { return static_cast<wire::Op>(header.op); }
    template <typename T>
    T as() const {
        T value{};
        std::memcpy(&value, payload.data(), std::min(sizeof(T), payload.size()));
        return value;
    }
};

class ScriptedPeer {
  public:
    explicit ScriptedPeer(os::UniqueFd socket) : socket_(std::move(socket)) {}

    int fd() const { return socket_.get(); }
    void hang_up() { socket_.reset(); }

    // A whole reply in one write, `fds` on its first byte.
    void reply(wire::Op op, std::int32_t result, std::span<const std::byte> payload,
               std::span<const int> fds = {}) {
        const wire::ReplyHeader header{static_cast<std::uint32_t>(op), result,
                                       static_cast<std::uint32_t>(payload.size()),
                                       static_cast<std::uint32_t>(fds.size())};
        std::vector<std::byte> bytes(sizeof header + payload.size());
        std::memcpy(bytes.data(), &header, sizeof header);
        if (!payload.empty()) {
            std::memcpy(bytes.data() + sizeof header, payload.data(), payload.size());
        }
        os::send_with_fds(socket_.get(), bytes, fds);
    }
    void send_raw(std::span<const std::byte> bytes, std::span<const int> fds = {}) {
        os::send_with_fds(socket_.get(), bytes, fds);
    }

    // The next request the client sent (blocking).
    Request read_request() {
        Request request;
        read_exactly(std::as_writable_bytes(std::span(&request.header, 1)));
        request.payload.resize(request.header.length);
        if (!request.payload.empty()) {
            read_exactly(request.payload);
        }
        return request;
    }

    // Whether the client sent nothing (more).
    bool nothing_sent() {
        std::byte byte{};
        boost::system::error_code ec;
        (void)os::try_receive_with_fds(socket_.get(), {&byte, 1}, 0, ec);
        return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
    }

  private:
    void read_exactly(std::span<std::byte> buffer) {
        std::size_t done = 0;
        while (done < buffer.size()) {
            const auto received = os::receive_with_fds(socket_.get(), buffer.subspan(done), 0);
            if (received.size == 0) {
                throw std::runtime_error("the client closed the connection");
            }
            done += received.size;
        }
    }

    os::UniqueFd socket_;
};

// Shared-memory objects private to one test (a run tag of their own).
class TestShm {
  public:
    ~TestShm() { os::remove_run_shm(tag_); }

    os::SharedMemory create(const std::string& what, std::size_t size) {
        return os::SharedMemory::create(os::shm_name(tag_, what), size);
    }

  private:
    pvsim::test::TempDir dir_;
    std::string tag_ = RunDir::open(dir_.path()).shm_tag();
};

}  // namespace pvsim::hypervisor::test
