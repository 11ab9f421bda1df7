// A vhost-user front-end that lives in the test: raw messages over a real
// unix socket (common/virtio/vhost_user_channel.hpp), guest memory it
// creates itself (GuestMemory) and queues it lays out there (GuestQueue),
// kick and call eventfds of its own. It does what QEMU's vhost-user-blk
// front-end does, in qemu-storage-daemon's working order, and can break any
// rule on purpose.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/event_fd.hpp"
#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user_channel.hpp"
#include "common/virtio/virtio_blk.hpp"
#include "tests/support/daemon_process.hpp"
#include "tests/support/guest_queue.hpp"

namespace pvsim::test {

namespace vu = pvsim::vhost_user;

class TestFrontend {
  public:
    struct Queue {
        std::unique_ptr<GuestQueue> ring;
        os::EventFd kick{os::EventFd::Options{.nonblocking = true}};
        os::EventFd call{os::EventFd::Options{.nonblocking = true}};
        std::uint64_t calls = 0;  // call eventfd reads that found something
    };

    TestFrontend(const std::filesystem::path& socket_path, std::size_t memory_size = 4 << 20)
        : memory_(memory_size), socket_(connect_to(socket_path)) {}

    static os::UniqueFd connect_to(const std::filesystem::path& path) {
        os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) !=
            0) {
            os::throw_system_error("connect " + path.string());
        }
        return fd;
    }

    int fd() const noexcept { return socket_.get(); }
    GuestMemory& memory() noexcept { return memory_; }
    Queue& queue(unsigned index) { return *queues_.at(index); }
    void close() { socket_.reset(); }

    // --- raw messages ---
    void send(vu::Request request, std::span<const std::byte> payload = {}, bool need_reply = false,
              std::span<const int> fds = {}, std::uint32_t flags_override = 0) {
        vu::Header h{static_cast<std::uint32_t>(request),
                     flags_override != 0 ? flags_override : vu::request_flags(need_reply), 0};
        vu::send_message(socket_.get(), h, payload, fds);
    }
    template <typename T>
    void send_value(vu::Request request, const T& value, bool need_reply = false,
                    std::span<const int> fds = {}) {
        send(request, std::as_bytes(std::span(&value, 1)), need_reply, fds);
    }
    // The next message from the device; nullopt when the device closed the
    // connection (or sent nothing within the limit: never a timing claim,
    // just a bound on a hang).
    std::optional<vu::Message> receive() {
        if (!wait_readable(socket_.get(), std::chrono::seconds(20))) {
            throw std::runtime_error("no answer from the device");
        }
        try {
            return vu::receive_message(socket_.get());
        } catch (const vu::ChannelError&) {
            return std::nullopt;
        }
    }
    std::uint64_t receive_u64(vu::Request expected) {
        const std::optional<vu::Message> m = receive();
        if (!m || m->request() != expected || !vu::is_reply(m->header.flags) || !m->u64()) {
            throw std::runtime_error("expected a u64 reply to " + std::string(vu::name(expected)));
        }
        return *m->u64();
    }
    // A REPLY_ACK answer: 0 success.
    std::uint64_t ack(vu::Request request) { return receive_u64(request); }
    // Whether the device closed the connection.
    bool closed_by_device() {
        if (!wait_readable(socket_.get(), std::chrono::seconds(20))) {
            return false;
        }
        char byte;
        return ::recv(socket_.get(), &byte, 1, MSG_DONTWAIT) == 0;
    }

    // --- the usual session ---
    std::uint64_t get_features() {
        send(vu::Request::get_features);
        return receive_u64(vu::Request::get_features);
    }
    // GET_FEATURES, GET/SET_PROTOCOL_FEATURES (REPLY_ACK, CONFIG, MQ),
    // SET_OWNER, SET_FEATURES(`features` & offered), SET_MEM_TABLE.
    std::uint64_t negotiate(std::uint64_t wanted) {
        const std::uint64_t offered = get_features();
        send(vu::Request::get_protocol_features);
        const std::uint64_t protocol = receive_u64(vu::Request::get_protocol_features);
        send_value(vu::Request::set_protocol_features, protocol);
        send(vu::Request::set_owner, {}, true);
        expect_ack(vu::Request::set_owner);
        features_ = (wanted & offered) | virtio::feature_mask(vu::kFProtocolFeatures);
        send_value(vu::Request::set_features, features_, true);
        expect_ack(vu::Request::set_features);
        set_mem_table();
        return features_;
    }
    void expect_ack(vu::Request request) {
        if (ack(request) != 0) {
            throw std::runtime_error(std::string(vu::name(request)) + " was refused");
        }
    }
    void set_mem_table() {
        std::vector<std::byte> payload(vu::kMemoryRegionsOffset + sizeof(vu::MemoryRegion));
        const std::uint32_t one = 1;
        std::memcpy(payload.data(), &one, sizeof(one));
        const vu::MemoryRegion region{0, memory_.size(), memory_.user(0), 0};
        std::memcpy(payload.data() + vu::kMemoryRegionsOffset, &region, sizeof(region));
        const int fds[] = {memory_.fd()};
        send(vu::Request::set_mem_table, payload, true, fds);
        expect_ack(vu::Request::set_mem_table);
    }
    // SET_VRING_NUM, BASE, ADDR, KICK, CALL, ENABLE for queue `index`.
    Queue& start_queue(unsigned index, std::uint16_t size = 64, std::uint16_t base = 0) {
        if (queues_.size() <= index) {
            queues_.resize(index + 1);
        }
        queues_[index] = std::make_unique<Queue>();
        Queue& q = *queues_[index];
        q.ring = std::make_unique<GuestQueue>(memory_, size);
        send_value(vu::Request::set_vring_num, vu::VringState{index, size}, true);
        expect_ack(vu::Request::set_vring_num);
        send_value(vu::Request::set_vring_base, vu::VringState{index, base}, true);
        expect_ack(vu::Request::set_vring_base);
        send_value(vu::Request::set_vring_addr, addr_of(index, *q.ring), true);
        expect_ack(vu::Request::set_vring_addr);
        const int kick[] = {q.kick.fd()};
        send_value(vu::Request::set_vring_kick, vu::vring_fd_payload(index, false), true, kick);
        expect_ack(vu::Request::set_vring_kick);
        const int call[] = {q.call.fd()};
        send_value(vu::Request::set_vring_call, vu::vring_fd_payload(index, false), true, call);
        expect_ack(vu::Request::set_vring_call);
        send_value(vu::Request::set_vring_enable, vu::VringState{index, 1}, true);
        expect_ack(vu::Request::set_vring_enable);
        return q;
    }
    vu::VringAddr addr_of(unsigned index, const GuestQueue& ring) const {
        return vu::VringAddr{index,
                             0,
                             memory_.user(ring.desc_gpa()),
                             memory_.user(ring.used_gpa()),
                             memory_.user(ring.avail_gpa()),
                             0};
    }
    std::uint16_t get_vring_base(unsigned index) {
        send_value(vu::Request::get_vring_base, vu::VringState{index, 0});
        const std::optional<vu::Message> m = receive();
        if (!m || m->request() != vu::Request::get_vring_base) {
            throw std::runtime_error("no GET_VRING_BASE reply");
        }
        return static_cast<std::uint16_t>(m->payload_as<vu::VringState>()->num);
    }

    // --- requests ---
    // Publishes the chain and kicks as a driver does with EVENT_IDX (only
    // when avail_event asks) or always without.
    void submit(unsigned index, std::uint16_t head) {
        Queue& q = queue(index);
        const std::uint16_t old = q.ring->avail_idx();
        q.ring->publish(head);
        if (q.ring->view().driver_should_kick(old, q.ring->avail_idx(), event_idx())) {
            q.kick.signal();
        }
    }
    // Waits until `count` used elements are back (reading the call eventfd
    // as a driver sleeping on it would, keeping used_event current).
    std::vector<virtio::VirtqUsedElem> wait_used(unsigned index, std::size_t count) {
        Queue& q = queue(index);
        std::vector<virtio::VirtqUsedElem> out;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (out.size() < count) {
            while (auto e = q.ring->take_used()) {
                out.push_back(*e);
            }
            if (out.size() >= count) {
                break;
            }
            q.ring->view().arm_used_event(q.ring->last_used());
            if (q.ring->view().used_idx() != q.ring->last_used()) {
                continue;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("the device returned " + std::to_string(out.size()) +
                                         " of " + std::to_string(count) + " buffers");
            }
            if (wait_readable(q.call.fd(), std::chrono::milliseconds(100)) &&
                q.call.try_consume() != 0) {
                ++q.calls;
            }
        }
        return out;
    }
    // One virtio-blk request, start to finish; the status byte.
    std::uint8_t run(unsigned index, const BlkBuffers& b, bool data_device_writes,
                     std::uint32_t* used_len = nullptr) {
        const std::uint16_t head = queue(index).ring->write_chain(b.chain(data_device_writes));
        submit(index, head);
        const auto used = wait_used(index, 1);
        if (used.front().id != head) {
            throw std::runtime_error("used id " + std::to_string(used.front().id) + ", not " +
                                     std::to_string(head));
        }
        if (used_len != nullptr) {
            *used_len = used.front().len;
        }
        return status_of(memory_, b);
    }

    bool event_idx() const noexcept {
        return virtio::has_feature(features_, virtio::Feature::event_idx);
    }

  private:
    GuestMemory memory_;
    os::UniqueFd socket_;
    std::uint64_t features_ = 0;
    std::vector<std::unique_ptr<Queue>> queues_;
};

}  // namespace pvsim::test
