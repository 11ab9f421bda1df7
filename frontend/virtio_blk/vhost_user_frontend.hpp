// The front-end side of the vhost-user protocol (QEMU
// docs/interop/vhost-user.rst; hw/virtio/vhost-user.c is QEMU's own
// front-end): one method per request the virtio-blk driver sends, each
// waiting for the answer the spec defines. Once
// VHOST_USER_PROTOCOL_F_REPLY_ACK is negotiated every request without an
// answer of its own asks for one (VHOST_USER_NEED_REPLY_MASK), so a device
// that refuses a request fails the call instead of failing later.
//
// Not thread-safe: the control plane uses it from one thread. Every failure
// throws VhostUserError naming the request and what went wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user.hpp"
#include "frontend/virtio_blk/vhost_user_socket.hpp"

namespace pvsim::frontend::virtio_blk {

class VhostUserFrontend {
  public:
    // Connects to the device listening at `socket` (retrying until
    // `connect_timeout` while it is not there yet); every answer is then
    // awaited for at most `reply_timeout`.
    VhostUserFrontend(const std::filesystem::path& socket,
                      std::chrono::milliseconds connect_timeout,
                      std::chrono::milliseconds reply_timeout);

    const std::filesystem::path& path() const noexcept { return path_; }
    // The socket, e.g. to notice the device hanging up (POLLRDHUP).
    int fd() const noexcept { return fd_.get(); }
    bool connected() const noexcept { return static_cast<bool>(fd_); }
    // Closes the socket: the device sees the front-end go away.
    void close() noexcept { fd_.reset(); }

    // VHOST_USER_GET_FEATURES / SET_FEATURES: virtio feature bits, plus
    // VHOST_USER_F_PROTOCOL_FEATURES (bit 30).
    std::uint64_t get_features();
    void set_features(std::uint64_t features);

    // VHOST_USER_GET_PROTOCOL_FEATURES / SET_PROTOCOL_FEATURES. What is set
    // decides whether later requests ask for REPLY_ACK.
    std::uint64_t get_protocol_features();
    void set_protocol_features(std::uint64_t features);
    std::uint64_t protocol_features() const noexcept { return protocol_features_; }

    void set_owner();
    // VHOST_USER_GET_QUEUE_NUM (protocol feature MQ): queues the device has.
    std::uint64_t get_queue_num();

    // VHOST_USER_GET_CONFIG (protocol feature CONFIG): `size` bytes of the
    // device's config space from offset 0. Empty when the device declines
    // (a zero-size answer, as libvhost-user gives for a size it rejects).
    std::vector<std::byte> get_config(std::uint32_t size);

    // VHOST_USER_SET_MEM_TABLE with regions backed by `fds`, in order.
    void set_mem_table(std::span<const vhost_user::MemoryRegion> regions, std::span<const int> fds);

    void set_vring_num(std::uint32_t index, std::uint32_t num);
    void set_vring_base(std::uint32_t index, std::uint32_t base);
    void set_vring_addr(const vhost_user::VringAddr& addr);
    void set_vring_kick(std::uint32_t index, int eventfd);
    void set_vring_call(std::uint32_t index, int eventfd);
    void set_vring_enable(std::uint32_t index, bool enable);
    // VHOST_USER_GET_VRING_BASE: stops the ring; the answer is the next
    // avail index the device would have processed.
    std::uint32_t get_vring_base(std::uint32_t index);

  private:
    bool reply_ack() const noexcept;
    // Sends a request that has no answer of its own; with REPLY_ACK, waits
    // for the ack and checks it is zero.
    void send_no_reply(vhost_user::Request request, std::span<const std::byte> payload,
                       std::span<const int> fds = {});
    // Sends a request and reads its answer, which must be a reply to the
    // same request.
    vhost_user::Message request_reply(vhost_user::Request request,
                                      std::span<const std::byte> payload);
    vhost_user::Message receive_reply(vhost_user::Request request);
    std::uint64_t request_u64(vhost_user::Request request);
    void send_u64(vhost_user::Request request, std::uint64_t value, std::span<const int> fds = {});
    void send_vring_state(vhost_user::Request request, std::uint32_t index, std::uint32_t num);
    // Fails the connection for good: the socket is closed and the error
    // names the request.
    [[noreturn]] void fail(vhost_user::Request request, const std::string& why);
    void require_connected(vhost_user::Request request);

    std::filesystem::path path_;
    std::chrono::milliseconds reply_timeout_;
    os::UniqueFd fd_;
    std::uint64_t protocol_features_ = 0;
};

}  // namespace pvsim::frontend::virtio_blk
