#include "frontend/virtio_blk/vhost_user_frontend.hpp"

#include <cstring>
#include <string>

namespace pvsim::frontend::virtio_blk {
namespace {

using vhost_user::Request;

template <class T>
std::span<const std::byte> bytes_of(const T& value) {
    return std::as_bytes(std::span<const T, 1>(&value, 1));
}

}  // namespace

VhostUserFrontend::VhostUserFrontend(const std::filesystem::path& socket,
                                     std::chrono::milliseconds connect_timeout,
                                     std::chrono::milliseconds reply_timeout)
    : path_(socket), reply_timeout_(reply_timeout) {
    try {
        fd_ = connect_vhost_user(socket, connect_timeout);
    } catch (const VhostUserError& e) {
        throw VhostUserError("vhost-user " + path_.string() + ": " + e.what());
    }
}

bool VhostUserFrontend::reply_ack() const noexcept {
    return vhost_user::has_protocol_feature(protocol_features_,
                                            vhost_user::ProtocolFeature::reply_ack);
}

void VhostUserFrontend::fail(Request request, const std::string& why) {
    fd_.reset();
    throw VhostUserError("vhost-user " + path_.string() + ": " +
                         std::string(vhost_user::name(request)) + ": " + why);
}

void VhostUserFrontend::require_connected(Request request) {
    if (!fd_) {
        throw VhostUserError("vhost-user " + path_.string() + ": " +
                             std::string(vhost_user::name(request)) + ": not connected");
    }
}

vhost_user::Message VhostUserFrontend::receive_reply(Request request) {
    vhost_user::Message reply;
    try {
        reply = receive_vhost_user(fd_.get(), reply_timeout_);
    } catch (const VhostUserError& e) {
        fail(request, e.what());
    }
    if (reply.header.request != static_cast<std::uint32_t>(request)) {
        fail(request, "answered with request " + std::to_string(reply.header.request) + " (" +
                          std::string(vhost_user::name(Request{reply.header.request})) + ")");
    }
    if (!vhost_user::is_reply(reply.header.flags)) {
        fail(request, "answer lacks the reply flag");
    }
    if (!reply.fds.empty()) {
        fail(request, "answer carries " + std::to_string(reply.fds.size()) + " unexpected fds");
    }
    return reply;
}

void VhostUserFrontend::send_no_reply(Request request, std::span<const std::byte> payload,
                                      std::span<const int> fds) {
    require_connected(request);
    const bool ack = reply_ack();
    try {
        send_vhost_user(fd_.get(), request, vhost_user::request_flags(ack), payload, fds);
    } catch (const VhostUserError& e) {
        fail(request, e.what());
    }
    if (!ack) {
        return;
    }
    // REPLY_ACK: a u64, zero for success. EOF instead of it is a failure,
    // as is a device that acks and then hangs up (found by the next call).
    const vhost_user::Message reply = receive_reply(request);
    std::uint64_t status = 0;
    if (reply.payload.size() != sizeof(status)) {
        fail(request, "ack of " + std::to_string(reply.payload.size()) + " bytes, not 8");
    }
    std::memcpy(&status, reply.payload.data(), sizeof(status));
    if (status != 0) {
        fail(request, "the device refused it (ack " + std::to_string(status) + ")");
    }
}

vhost_user::Message VhostUserFrontend::request_reply(Request request,
                                                     std::span<const std::byte> payload) {
    require_connected(request);
    try {
        send_vhost_user(fd_.get(), request, vhost_user::request_flags(), payload);
    } catch (const VhostUserError& e) {
        fail(request, e.what());
    }
    return receive_reply(request);
}

std::uint64_t VhostUserFrontend::request_u64(Request request) {
    const vhost_user::Message reply = request_reply(request, {});
    std::uint64_t value = 0;
    if (reply.payload.size() != sizeof(value)) {
        fail(request, "answer of " + std::to_string(reply.payload.size()) + " bytes, not 8");
    }
    std::memcpy(&value, reply.payload.data(), sizeof(value));
    return value;
}

void VhostUserFrontend::send_u64(Request request, std::uint64_t value, std::span<const int> fds) {
    send_no_reply(request, bytes_of(value), fds);
}

void VhostUserFrontend::send_vring_state(Request request, std::uint32_t index, std::uint32_t num) {
    const vhost_user::VringState state{.index = index, .num = num};
    send_no_reply(request, bytes_of(state));
}

std::uint64_t VhostUserFrontend::get_features() {
    return request_u64(Request::get_features);
}

void VhostUserFrontend::set_features(std::uint64_t features) {
    send_u64(Request::set_features, features);
}

std::uint64_t VhostUserFrontend::get_protocol_features() {
    return request_u64(Request::get_protocol_features);
}

void VhostUserFrontend::set_protocol_features(std::uint64_t features) {
    // Sent without NEED_REPLY, as QEMU does: REPLY_ACK is what this very
    // message negotiates.
    require_connected(Request::set_protocol_features);
    try {
        send_vhost_user(fd_.get(), Request::set_protocol_features, vhost_user::request_flags(),
                        bytes_of(features));
    } catch (const VhostUserError& e) {
        fail(Request::set_protocol_features, e.what());
    }
    protocol_features_ = features;
}

void VhostUserFrontend::set_owner() {
    send_no_reply(Request::set_owner, {});
}

std::uint64_t VhostUserFrontend::get_queue_num() {
    return request_u64(Request::get_queue_num);
}

std::vector<std::byte> VhostUserFrontend::get_config(std::uint32_t size) {
    if (size > vhost_user::kMaxConfigSize) {
        throw std::invalid_argument("GET_CONFIG of more than 256 bytes");
    }
    // VhostUserConfig: offset, size, flags, then `size` bytes (zeros here).
    std::vector<std::byte> payload(vhost_user::kConfigHeaderSize + size);
    const std::uint32_t header[3] = {0, size, vhost_user::kConfigTypeFrontend};
    std::memcpy(payload.data(), header, sizeof(header));
    const vhost_user::Message reply = request_reply(Request::get_config, payload);
    if (reply.payload.empty()) {
        return {};
    }
    if (reply.payload.size() != payload.size()) {
        fail(Request::get_config, "answer of " + std::to_string(reply.payload.size()) +
                                      " bytes, asked for " + std::to_string(payload.size()));
    }
    return {reply.payload.begin() + vhost_user::kConfigHeaderSize, reply.payload.end()};
}

void VhostUserFrontend::set_mem_table(std::span<const vhost_user::MemoryRegion> regions,
                                      std::span<const int> fds) {
    if (regions.empty() || regions.size() > vhost_user::kMemoryBaselineNregions ||
        regions.size() != fds.size()) {
        throw std::invalid_argument("SET_MEM_TABLE: 1 to 8 regions, one fd each");
    }
    std::vector<std::byte> payload(vhost_user::kMemoryRegionsOffset +
                                   regions.size() * sizeof(vhost_user::MemoryRegion));
    const std::uint32_t nregions[2] = {static_cast<std::uint32_t>(regions.size()), 0};
    std::memcpy(payload.data(), nregions, sizeof(nregions));
    std::memcpy(payload.data() + vhost_user::kMemoryRegionsOffset, regions.data(),
                regions.size_bytes());
    send_no_reply(Request::set_mem_table, payload, fds);
}

void VhostUserFrontend::set_vring_num(std::uint32_t index, std::uint32_t num) {
    send_vring_state(Request::set_vring_num, index, num);
}

void VhostUserFrontend::set_vring_base(std::uint32_t index, std::uint32_t base) {
    send_vring_state(Request::set_vring_base, index, base);
}

void VhostUserFrontend::set_vring_addr(const vhost_user::VringAddr& addr) {
    send_no_reply(Request::set_vring_addr, bytes_of(addr));
}

void VhostUserFrontend::set_vring_kick(std::uint32_t index, int eventfd) {
    const int fds[1] = {eventfd};
    send_u64(Request::set_vring_kick, vhost_user::vring_fd_payload(index, false), fds);
}

void VhostUserFrontend::set_vring_call(std::uint32_t index, int eventfd) {
    const int fds[1] = {eventfd};
    send_u64(Request::set_vring_call, vhost_user::vring_fd_payload(index, false), fds);
}

void VhostUserFrontend::set_vring_enable(std::uint32_t index, bool enable) {
    send_vring_state(Request::set_vring_enable, index, enable ? 1 : 0);
}

std::uint32_t VhostUserFrontend::get_vring_base(std::uint32_t index) {
    const vhost_user::VringState state{.index = index, .num = 0};
    const vhost_user::Message reply = request_reply(Request::get_vring_base, bytes_of(state));
    vhost_user::VringState answer{};
    if (reply.payload.size() != sizeof(answer)) {
        fail(Request::get_vring_base,
             "answer of " + std::to_string(reply.payload.size()) + " bytes, not 8");
    }
    std::memcpy(&answer, reply.payload.data(), sizeof(answer));
    if (answer.index != index) {
        fail(Request::get_vring_base, "answer names vring " + std::to_string(answer.index) +
                                          ", asked for " + std::to_string(index));
    }
    return answer.num;
}

}  // namespace pvsim::frontend::virtio_blk
