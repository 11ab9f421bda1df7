#include "backend/vhost_user_blk/message_dispatch.hpp"

#include <cstddef>
#include <cstring>
#include <exception>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/virtio/virtqueue.hpp"

namespace pvsim::backend::vhost_user_blk {
namespace {

using vhost_user::Message;
using vhost_user::Request;

std::string size_error(const Message& m, std::size_t expected) {
    return fmt::format("a {}-byte payload, not {}", m.payload.size(), expected);
}

}  // namespace

MessageDispatch::MessageDispatch(const QueueContext& context, std::string name)
    : context_(context), name_(std::move(name)) {}

MessageDispatch::~MessageDispatch() {
    stop_queues();
}

void MessageDispatch::stop_queues() {
    for (unsigned i = 0; i < vrings_.size(); ++i) {
        stop_queue(i);
    }
}

bool MessageDispatch::queue_running(unsigned index) const noexcept {
    return index < vrings_.size() && vrings_[index].worker != nullptr;
}

bool MessageDispatch::any_queue_running() const noexcept {
    for (const VringState& v : vrings_) {
        if (v.worker) {
            return true;
        }
    }
    return false;
}

bool MessageDispatch::reply_ack() const noexcept {
    return vhost_user::has_protocol_feature(protocol_features_,
                                            vhost_user::ProtocolFeature::reply_ack);
}

bool MessageDispatch::handle(Message& message, int socket_fd) {
    const std::string_view what = vhost_user::name(message.request());
    if (!vhost_user::has_supported_version(message.header.flags)) {
        context_.metrics.add(&DeviceCounters::protocol_violations);
        spdlog::error("{}: {} ({}) with header version {}: closing the connection", name_, what,
                      message.header.request, vhost_user::flags_version(message.header.flags));
        return false;
    }
    spdlog::debug("{}: {}", name_, what);
    Result result;
    try {
        result = dispatch(message, socket_fd);
    } catch (const vhost_user::ChannelError&) {
        throw;
    } catch (const std::exception& e) {
        result = error(e.what());
    }
    if (result.kind == Result::Kind::violation) {
        context_.metrics.add(&DeviceCounters::protocol_violations);
        spdlog::error("{}: {}: {}: closing the connection", name_, what, result.reason);
        return false;
    }
    if (result.kind == Result::Kind::error) {
        context_.metrics.add(&DeviceCounters::bad_messages);
        spdlog::error("{}: {} ({}) refused: {}", name_, what, message.header.request,
                      result.reason);
    }
    // REPLY_ACK (vhost-user.rst): "the back-end must respond with a
    // VHOST_USER_REPLY_ACK message ... zero indicates success, non-zero
    // failure", for every request that has no reply of its own.
    if (!result.replied && reply_ack() && vhost_user::needs_reply(message.header.flags)) {
        const std::uint64_t status = result.kind == Result::Kind::ok ? 0 : 1;
        vhost_user::send_reply(socket_fd, message.request(), status);
    }
    return true;
}

MessageDispatch::Result MessageDispatch::dispatch(Message& message, int socket_fd) {
    switch (message.request()) {
        case Request::get_features:
            return get_features(socket_fd);
        case Request::set_features:
            return set_features(message);
        case Request::get_protocol_features:
            return get_protocol_features(socket_fd);
        case Request::set_protocol_features:
            return set_protocol_features(message);
        case Request::set_owner:
            return set_owner(message);
        case Request::reset_owner:
            // Deprecated; libvhost-user treats it as a reset of the session.
            stop_queues();
            vrings_ = {};
            features_ = 0;
            features_set_ = false;
            return ok();
        case Request::get_queue_num:
            return get_queue_num(socket_fd);
        case Request::get_config:
            return get_config(message, socket_fd);
        case Request::set_config:
            return set_config(message);
        case Request::set_mem_table:
            return set_mem_table(message);
        case Request::set_vring_num:
            return set_vring_num(message);
        case Request::set_vring_addr:
            return set_vring_addr(message);
        case Request::set_vring_base:
            return set_vring_base(message);
        case Request::get_vring_base:
            return get_vring_base(message, socket_fd);
        case Request::set_vring_kick:
        case Request::set_vring_call:
        case Request::set_vring_err:
            return set_vring_fd(message);
        case Request::set_vring_enable:
            return set_vring_enable(message);
        default:
            break;
    }
    return error(fmt::format("request {} is not supported by this device", message.header.request));
}

MessageDispatch::Result MessageDispatch::get_features(int socket_fd) {
    vhost_user::send_reply(socket_fd, Request::get_features, context_.config.features());
    return replied();
}

MessageDispatch::Result MessageDispatch::set_features(const Message& message) {
    const std::optional<std::uint64_t> features = message.u64();
    if (!features) {
        return error(size_error(message, 8));
    }
    const std::uint64_t unknown = *features & ~context_.config.features();
    if (unknown != 0) {
        return error(fmt::format("features 0x{:x} were not offered", unknown));
    }
    if (!virtio::has_feature(*features, virtio::Feature::version_1)) {
        return error("VIRTIO_F_VERSION_1 is required (no legacy interface)");
    }
    if (any_queue_running() && *features != features_) {
        return error("features may not change while a queue runs");
    }
    features_ = *features;
    features_set_ = true;
    spdlog::info("{}: features {}{}", name_,
                 virtio::describe_blk_features(
                     features_ & ~virtio::feature_mask(vhost_user::kFProtocolFeatures)),
                 protocol_features_acked() ? "|VHOST_USER_F_PROTOCOL_FEATURES" : "");
    return ok();
}

MessageDispatch::Result MessageDispatch::get_protocol_features(int socket_fd) {
    vhost_user::send_reply(socket_fd, Request::get_protocol_features,
                           DeviceConfig::protocol_features());
    return replied();
}

MessageDispatch::Result MessageDispatch::set_protocol_features(const Message& message) {
    const std::optional<std::uint64_t> features = message.u64();
    if (!features) {
        return error(size_error(message, 8));
    }
    const std::uint64_t unknown = *features & ~DeviceConfig::protocol_features();
    if (unknown != 0) {
        return error(fmt::format("protocol features 0x{:x} were not offered", unknown));
    }
    protocol_features_ = *features;
    protocol_features_set_ = true;
    return ok();
}

MessageDispatch::Result MessageDispatch::set_owner(const Message& message) {
    if (!message.payload.empty()) {
        return error(size_error(message, 0));
    }
    owner_ = true;
    return ok();
}

MessageDispatch::Result MessageDispatch::get_queue_num(int socket_fd) {
    vhost_user::send_reply(socket_fd, Request::get_queue_num,
                           std::uint64_t{context_.config.num_queues()});
    return replied();
}

MessageDispatch::Result MessageDispatch::get_config(const Message& message, int socket_fd) {
    vhost_user::Config config{};
    const std::size_t size = message.payload.size();
    std::string why;
    if (size < vhost_user::kConfigHeaderSize) {
        why = size_error(message, vhost_user::kConfigHeaderSize);
    } else {
        std::memcpy(&config, message.payload.data(), vhost_user::kConfigHeaderSize);
        const std::uint64_t end = std::uint64_t{config.offset} + config.size;
        if (size != vhost_user::kConfigHeaderSize + config.size) {
            why = fmt::format("a {}-byte payload for {} bytes of config", size, config.size);
        } else if (config.size > vhost_user::kMaxConfigSize ||
                   end > sizeof(virtio::VirtioBlkConfig)) {
            why = fmt::format("config bytes {}..{} are outside the {}-byte virtio-blk config",
                              config.offset, end, sizeof(virtio::VirtioBlkConfig));
        }
    }
    if (!why.empty()) {
        // "a zero-size payload on error" (vhost-user.rst, GET_CONFIG).
        vhost_user::send_message(socket_fd,
                                 vhost_user::Header{static_cast<std::uint32_t>(Request::get_config),
                                                    vhost_user::reply_flags(), 0});
        Result r = error(why);
        r.replied = true;
        return r;
    }
    virtio::VirtioBlkConfig space = context_.config.config_space();
    space.wce = context_.writeback.load(std::memory_order_relaxed) ? 1 : 0;
    std::memcpy(config.region, reinterpret_cast<const std::byte*>(&space) + config.offset,
                config.size);
    vhost_user::send_message(socket_fd,
                             vhost_user::Header{static_cast<std::uint32_t>(Request::get_config),
                                                vhost_user::reply_flags(), 0},
                             std::span(reinterpret_cast<const std::byte*>(&config),
                                       vhost_user::kConfigHeaderSize + config.size));
    return replied();
}

MessageDispatch::Result MessageDispatch::set_config(const Message& message) {
    vhost_user::Config config{};
    if (message.payload.size() < vhost_user::kConfigHeaderSize) {
        return error(size_error(message, vhost_user::kConfigHeaderSize));
    }
    std::memcpy(&config, message.payload.data(), message.payload.size());
    if (message.payload.size() != vhost_user::kConfigHeaderSize + config.size) {
        return error(fmt::format("a {}-byte payload for {} bytes of config", message.payload.size(),
                                 config.size));
    }
    // Only `wce` is writable, and only with VIRTIO_BLK_F_CONFIG_WCE
    // (§5.2.4: "writeback ... the driver can switch ... if CONFIG_WCE").
    if (config.offset != offsetof(virtio::VirtioBlkConfig, wce) || config.size != 1) {
        return error(fmt::format("config bytes {}..{} are not writable", config.offset,
                                 std::uint64_t{config.offset} + config.size));
    }
    if (!virtio::has_feature(features_, virtio::BlkFeature::config_wce)) {
        return error("wce written without VIRTIO_BLK_F_CONFIG_WCE");
    }
    context_.writeback.store(config.region[0] != 0, std::memory_order_relaxed);
    spdlog::info("{}: write cache {}", name_, config.region[0] != 0 ? "writeback" : "writethrough");
    return ok();
}

MessageDispatch::Result MessageDispatch::set_mem_table(Message& message) {
    const std::size_t size = message.payload.size();
    if (size < vhost_user::kMemoryRegionsOffset) {
        return error(size_error(message, vhost_user::kMemoryRegionsOffset));
    }
    std::uint32_t nregions = 0;
    std::memcpy(&nregions, message.payload.data(), sizeof(nregions));
    if (nregions > vhost_user::kMemoryBaselineNregions) {
        return error(fmt::format("{} memory regions, more than {}", nregions,
                                 vhost_user::kMemoryBaselineNregions));
    }
    const std::size_t expected =
        vhost_user::kMemoryRegionsOffset + nregions * sizeof(vhost_user::MemoryRegion);
    if (size != expected) {
        return error(fmt::format("{} for {} regions", size_error(message, expected), nregions));
    }
    std::vector<vhost_user::MemoryRegion> regions(nregions);
    if (nregions != 0) {
        std::memcpy(regions.data(), message.payload.data() + vhost_user::kMemoryRegionsOffset,
                    nregions * sizeof(vhost_user::MemoryRegion));
    }
    try {
        memory_ =
            std::make_shared<const MemoryTable>(MemoryTable::map(regions, message.take_fds()));
    } catch (const MemoryTableError& e) {
        return error(e.what());
    }
    for (const MemoryTable::Region& r : memory_->regions()) {
        spdlog::info("{}: memory region guest 0x{:x} size {} user 0x{:x}", name_, r.guest_phys_addr,
                     r.size, r.userspace_addr);
    }
    return ok();
}

std::optional<std::string> MessageDispatch::bad_index(std::uint32_t index) const {
    if (index >= context_.config.num_queues()) {
        return fmt::format("vring index {} is out of range (the device has {} queues)", index,
                           context_.config.num_queues());
    }
    return std::nullopt;
}

MessageDispatch::Result MessageDispatch::set_vring_num(const Message& message) {
    const auto state = message.payload_as<vhost_user::VringState>();
    if (!state) {
        return error(size_error(message, sizeof(vhost_user::VringState)));
    }
    if (auto why = bad_index(state->index)) {
        return error(*why);
    }
    if (!virtio::is_valid_queue_size(state->num) || state->num > context_.config.max_queue_size()) {
        return error(fmt::format("queue size {} is not a power of two up to {}", state->num,
                                 context_.config.max_queue_size()));
    }
    VringState& v = vrings_[state->index];
    if (v.worker) {
        return error(fmt::format("queue {} is running", state->index));
    }
    v.num = state->num;
    return ok();
}

std::optional<virtio::SplitVirtqView> MessageDispatch::ring_view(unsigned index,
                                                                 std::string& why) const {
    const VringState& v = vrings_[index];
    if (!memory_) {
        why = "no memory table yet (SET_MEM_TABLE)";
        return std::nullopt;
    }
    if (v.num == 0) {
        why = "no queue size yet (SET_VRING_NUM)";
        return std::nullopt;
    }
    if (!v.addr) {
        why = "no ring addresses yet (SET_VRING_ADDR)";
        return std::nullopt;
    }
    const vhost_user::VringAddr& a = *v.addr;
    const std::size_t desc_size = virtio::desc_table_size(v.num);
    const std::size_t avail_size = virtio::avail_ring_size(v.num);
    const std::size_t used_size = virtio::used_ring_size(v.num);
    std::byte* desc = memory_->translate_user(a.desc_user_addr, desc_size);
    std::byte* avail = memory_->translate_user(a.avail_user_addr, avail_size);
    std::byte* used = memory_->translate_user(a.used_user_addr, used_size);
    if (desc == nullptr || avail == nullptr || used == nullptr) {
        why = fmt::format(
            "ring addresses desc 0x{:x} avail 0x{:x} used 0x{:x} (queue size {}) are "
            "not inside the memory table",
            a.desc_user_addr, a.avail_user_addr, a.used_user_addr, v.num);
        return std::nullopt;
    }
    auto view = virtio::SplitVirtqView::from_parts(v.num, {desc, desc_size}, {avail, avail_size},
                                                   {used, used_size});
    if (!view) {
        why = fmt::format("ring addresses desc 0x{:x} avail 0x{:x} used 0x{:x} are misaligned",
                          a.desc_user_addr, a.avail_user_addr, a.used_user_addr);
    }
    return view;
}

MessageDispatch::Result MessageDispatch::set_vring_addr(const Message& message) {
    const auto addr = message.payload_as<vhost_user::VringAddr>();
    if (!addr) {
        return error(size_error(message, sizeof(vhost_user::VringAddr)));
    }
    if (auto why = bad_index(addr->index)) {
        return error(*why);
    }
    VringState& v = vrings_[addr->index];
    if (v.worker) {
        return error(fmt::format("queue {} is running", addr->index));
    }
    if (v.num == 0) {
        v.num = context_.config.max_queue_size();
    }
    const std::optional<vhost_user::VringAddr> previous = v.addr;
    v.addr = *addr;
    std::string why;
    if (!ring_view(addr->index, why)) {
        v.addr = previous;
        return error(why);
    }
    return ok();
}

MessageDispatch::Result MessageDispatch::set_vring_base(const Message& message) {
    const auto state = message.payload_as<vhost_user::VringState>();
    if (!state) {
        return error(size_error(message, sizeof(vhost_user::VringState)));
    }
    if (auto why = bad_index(state->index)) {
        return error(*why);
    }
    if (state->num > 0xffff) {
        return error(fmt::format("base {} does not fit a 16-bit ring index", state->num));
    }
    VringState& v = vrings_[state->index];
    if (v.worker) {
        return error(fmt::format("queue {} is running", state->index));
    }
    v.base = static_cast<std::uint16_t>(state->num);
    return ok();
}

MessageDispatch::Result MessageDispatch::get_vring_base(const Message& message, int socket_fd) {
    const auto state = message.payload_as<vhost_user::VringState>();
    if (!state) {
        return violation(size_error(message, sizeof(vhost_user::VringState)));
    }
    if (auto why = bad_index(state->index)) {
        return violation(*why);
    }
    // "stop ring": its I/O finishes and is returned before the answer.
    stop_queue(state->index);
    VringState& v = vrings_[state->index];
    v.kick.reset();
    vhost_user::send_reply(socket_fd, Request::get_vring_base,
                           vhost_user::VringState{state->index, v.base});
    return replied();
}

MessageDispatch::Result MessageDispatch::set_vring_fd(Message& message) {
    const std::optional<std::uint64_t> payload = message.u64();
    if (!payload) {
        return error(size_error(message, 8));
    }
    const std::uint32_t index = vhost_user::vring_fd_index(*payload);
    if (auto why = bad_index(index)) {
        return error(*why);
    }
    if ((*payload & ~(vhost_user::kVringIdxMask | vhost_user::kVringNofdMask)) != 0) {
        return error(fmt::format("payload 0x{:x} sets reserved bits", *payload));
    }
    const bool no_fd = vhost_user::vring_fd_absent(*payload);
    std::vector<os::UniqueFd> fds = message.take_fds();
    if (no_fd && !fds.empty()) {
        return error("VHOST_USER_VRING_NOFD_MASK set, yet an fd came with it");
    }
    if (!no_fd && fds.size() != 1) {
        return error(fmt::format("{} fds, not one (missing fd?)", fds.size()));
    }
    std::optional<os::EventFd> event;
    if (!no_fd) {
        event.emplace(std::move(fds.front()));  // throws unless it is an eventfd
    }
    VringState& v = vrings_[index];
    switch (message.request()) {
        case Request::set_vring_kick:
            if (no_fd) {
                return error("polling the ring without a kick fd is not supported");
            }
            stop_queue(index);
            v.kick = std::make_shared<os::EventFd>(std::move(*event));
            // "If VHOST_USER_F_PROTOCOL_FEATURES has not been negotiated, the
            // ring starts directly in the enabled state."
            if (!protocol_features_acked()) {
                v.enabled = true;
            }
            maybe_start(index);
            return ok();
        case Request::set_vring_call:
            v.call->set(std::move(event));
            return ok();
        default:  // SET_VRING_ERR: the device reports no queue errors this way
            return ok();
    }
}

MessageDispatch::Result MessageDispatch::set_vring_enable(const Message& message) {
    const auto state = message.payload_as<vhost_user::VringState>();
    if (!state) {
        return error(size_error(message, sizeof(vhost_user::VringState)));
    }
    if (auto why = bad_index(state->index)) {
        return error(*why);
    }
    if (state->num > 1) {
        return error(fmt::format("enable value {}, not 0 or 1", state->num));
    }
    VringState& v = vrings_[state->index];
    v.enabled = state->num == 1;
    if (v.enabled) {
        maybe_start(state->index);
    } else {
        stop_queue(state->index);
    }
    return ok();
}

void MessageDispatch::maybe_start(unsigned index) {
    VringState& v = vrings_[index];
    if (v.worker || !v.kick || !v.enabled) {
        return;
    }
    if (!features_set_) {
        spdlog::error("{}: queue {} not started: no SET_FEATURES yet", name_, index);
        return;
    }
    std::string why;
    const std::optional<virtio::SplitVirtqView> view = ring_view(index, why);
    if (!view) {
        spdlog::error("{}: queue {} not started: {}", name_, index, why);
        return;
    }
    const bool event_idx = virtio::has_feature(features_, virtio::Feature::event_idx);
    try {
        v.worker = std::make_unique<QueueWorker>(context_,
                                                 QueueStart{.index = index,
                                                            .ring = Vring(*view, v.base, event_idx),
                                                            .memory = memory_,
                                                            .kick = v.kick,
                                                            .call = v.call,
                                                            .features = features_},
                                                 fmt::format("{} queue {}", name_, index));
    } catch (const std::exception& e) {
        spdlog::error("{}: queue {} not started: {}", name_, index, e.what());
        return;
    }
    spdlog::info("{}: queue {} started (size {}, avail index {})", name_, index, v.num, v.base);
}

void MessageDispatch::stop_queue(unsigned index) {
    VringState& v = vrings_[index];
    if (!v.worker) {
        return;
    }
    v.base = v.worker->stop();
    v.worker.reset();
    spdlog::info("{}: queue {} stopped at avail index {}", name_, index, v.base);
}

}  // namespace pvsim::backend::vhost_user_blk
