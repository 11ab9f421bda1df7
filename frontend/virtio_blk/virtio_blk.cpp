#include "frontend/virtio_blk/virtio_blk.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/virtio/vhost_user.hpp"

namespace pvsim::frontend::virtio_blk {
namespace {

bool has_protocol(std::uint64_t features, vhost_user::ProtocolFeature f) {
    return vhost_user::has_protocol_feature(features, f);
}

// The front-end's own address of guest-physical `gpa` (SET_VRING_ADDR
// carries these; the device translates them through the region's
// userspace_addr).
std::uint64_t user_addr(const hypervisor::DomainMemory& memory, std::uint64_t gpa) {
    return reinterpret_cast<std::uint64_t>(memory.base()) + gpa;
}

void check_options(const VirtioBlkOptions& options) {
    if (options.num_queues == 0 || options.num_queues > kMaxQueues) {
        throw std::invalid_argument("num-queues " + std::to_string(options.num_queues) +
                                    " is not from 1 to " + std::to_string(kMaxQueues));
    }
    if (!virtio::is_valid_queue_size(options.queue_size) ||
        options.queue_size > VirtqueueDriver::kMaxQueueSize) {
        throw std::invalid_argument("queue-size " + std::to_string(options.queue_size) +
                                    " is not a power of two from 1 to " +
                                    std::to_string(VirtqueueDriver::kMaxQueueSize));
    }
    if (options.poll.count() < 0) {
        throw std::invalid_argument("a negative polling window");
    }
}

}  // namespace

std::unique_ptr<VirtioBlk> open_virtio_blk(hypervisor::DomainMemory& memory,
                                           const std::string& socket, VirtioBlkOptions options) {
    check_options(options);
    const std::string name = options.name.empty() ? "vhost-user-blk " + socket : options.name;
    auto frontend =
        std::make_unique<VhostUserFrontend>(socket, options.connect_timeout, options.reply_timeout);

    const std::uint64_t offered = frontend->get_features();
    std::uint64_t features = 0;
    try {
        features = select_features(offered);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(name + ": " + e.what());
    }
    const bool protocol_features_negotiated =
        (features & virtio::feature_mask(vhost_user::kFProtocolFeatures)) != 0;

    std::uint64_t protocol = 0;
    if (protocol_features_negotiated) {
        protocol = select_protocol_features(frontend->get_protocol_features());
        frontend->set_protocol_features(protocol);
    }
    // QEMU's front-end also asks GET_QUEUE_NUM here; the handshake both
    // pvsim's device and qemu-storage-daemon are built for does not, and
    // num_queues in the config space says the same.
    frontend->set_owner();

    if (!has_protocol(protocol, vhost_user::ProtocolFeature::config)) {
        throw std::runtime_error(name +
                                 ": the device does not offer VHOST_USER_PROTOCOL_F_CONFIG, so "
                                 "the disk's capacity cannot be read");
    }
    std::vector<std::byte> config = frontend->get_config(kConfigSize);
    if (config.empty()) {
        spdlog::debug("{}: GET_CONFIG of {} bytes declined; asking for {}", name, kConfigSize,
                      kConfigSizeWithoutSecureErase);
        config = frontend->get_config(kConfigSizeWithoutSecureErase);
    }
    if (config.empty()) {
        throw std::runtime_error(name + ": the device answered GET_CONFIG with nothing");
    }
    // A request's chain is at most the queue size, indirect or not
    // (VirtqueueDriver::max_chain()).
    DiskConfig disk;
    try {
        disk = read_disk_config(config, features, options.queue_size);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(name + ": " + e.what());
    }

    frontend->set_features(features);

    const vhost_user::MemoryRegion region{.guest_phys_addr = 0,
                                          .memory_size = memory.size(),
                                          .userspace_addr = user_addr(memory, 0),
                                          .mmap_offset = 0};
    const int memory_fd = memory.fd();
    frontend->set_mem_table({&region, 1}, {&memory_fd, 1});

    unsigned queues = 1;
    if (has_protocol(protocol, vhost_user::ProtocolFeature::mq)) {
        queues = std::min({options.num_queues, disk.device_queues, kMaxQueues});
        queues = std::max(queues, 1U);
    }
    spdlog::info("{}: features {}, {} sectors of {} bytes, {} queue(s) of {}{}", name,
                 virtio::describe_blk_features(features), disk.capacity, disk.sector_size, queues,
                 options.queue_size, disk.read_only ? ", read-only" : "");

    std::unique_ptr<VirtioBlk> device(
        new VirtioBlk(name, std::move(frontend), disk, protocol, options.reply_timeout));
    VhostUserFrontend& vhost = *device->frontend_;
    for (std::uint32_t index = 0; index < queues; ++index) {
        QueueConfig queue_config{.name = name + " queue " + std::to_string(index),
                                 .queue_size = options.queue_size,
                                 .disk = disk,
                                 .poll = options.poll,
                                 .hangup_fd = vhost.fd()};
        auto queue = std::make_unique<VirtioBlkQueue>(
            memory, std::move(queue_config),
            [raw = device.get()](const std::string& reason) { raw->on_queue_failure(reason); });
        const VirtqueueDriver& vq = queue->virtqueue();
        vhost.set_vring_num(index, vq.size());
        vhost.set_vring_base(index, vq.avail_idx());
        vhost.set_vring_addr(
            vhost_user::VringAddr{.index = index,
                                  .flags = 0,
                                  .desc_user_addr = user_addr(memory, vq.desc_gpa()),
                                  .used_user_addr = user_addr(memory, vq.used_gpa()),
                                  .avail_user_addr = user_addr(memory, vq.avail_gpa()),
                                  .log_guest_addr = 0});
        vhost.set_vring_kick(index, queue->kick_fd());
        vhost.set_vring_call(index, queue->call_fd());
        // libvhost-user signals the call eventfd once on SET_VRING_CALL.
        queue->drain_call();
        if (protocol_features_negotiated) {
            // With VHOST_USER_F_PROTOCOL_FEATURES rings start disabled.
            vhost.set_vring_enable(index, true);
        }
        device->queues_.push_back(std::move(queue));
    }
    for (const auto& queue : device->queues_) {
        queue->drain_call();
        queue->start();
    }
    return device;
}

VirtioBlk::VirtioBlk(std::string name, std::unique_ptr<VhostUserFrontend> frontend, DiskConfig disk,
                     std::uint64_t protocol_features, std::chrono::milliseconds reply_timeout)
    : name_(std::move(name)),
      frontend_(std::move(frontend)),
      disk_(disk),
      protocol_features_(protocol_features),
      reply_timeout_(reply_timeout) {}

VirtioBlk::~VirtioBlk() {
    close();
}

std::uint64_t VirtioBlk::capacity_sectors() const {
    return disk_.capacity;
}

std::uint32_t VirtioBlk::sector_size() const {
    return disk_.sector_size;
}

bool VirtioBlk::read_only() const {
    return disk_.read_only;
}

std::size_t VirtioBlk::queue_of_this_thread() {
    std::lock_guard lock(mutex_);
    return queue_map_.queue_for(std::this_thread::get_id(), queues_.size(),
                                [this](std::size_t i) { return queues_[i]->completion_thread(); });
}

void VirtioBlk::submit(std::span<BlockRequest> batch) {
    if (batch.empty()) {
        return;
    }
    queues_[queue_of_this_thread()]->submit(batch);
}

std::size_t VirtioBlk::in_flight() const {
    std::size_t total = 0;
    for (const auto& queue : queues_) {
        total += queue->in_flight();
    }
    return total;
}

std::string VirtioBlk::error() const {
    {
        std::lock_guard lock(mutex_);
        if (!error_.empty()) {
            return error_;
        }
    }
    for (const auto& queue : queues_) {
        std::string why = queue->error();
        if (!why.empty()) {
            return why;
        }
    }
    return {};
}

bool VirtioBlk::failed() const {
    return std::any_of(queues_.begin(), queues_.end(),
                       [](const auto& queue) { return queue->failed(); });
}

VirtioBlkCounters VirtioBlk::counters() const {
    VirtioBlkCounters sum;
    for (const auto& queue : queues_) {
        add_counters(sum, queue->counters());
    }
    return sum;
}

void VirtioBlk::on_queue_failure(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        if (error_.empty()) {
            error_ = reason;
        }
    }
    for (const auto& queue : queues_) {
        queue->fail(reason);
    }
}

void VirtioBlk::close() noexcept {
    std::lock_guard close_lock(close_mutex_);
    {
        std::lock_guard lock(mutex_);
        if (closed_) {
            return;
        }
        closed_ = true;
    }
    try {
        for (const auto& queue : queues_) {
            queue->stop_accepting("device closed");
        }
        for (const auto& queue : queues_) {
            if (!queue->wait_idle(reply_timeout_)) {
                spdlog::warn("{}: requests still on the queue at close; they fail with ENODEV",
                             name_);
            }
        }
        if (frontend_->connected() && !failed()) {
            // vhost-user.rst "Stopping rings": GET_VRING_BASE stops each one.
            for (std::uint32_t index = 0; index < queues_.size(); ++index) {
                frontend_->get_vring_base(index);
            }
        }
    } catch (const std::exception& e) {
        spdlog::warn("{}: close: {}", name_, e.what());
    }
    for (const auto& queue : queues_) {
        queue->fail("device closed");
    }
    // The completion threads watch the socket: they stop before it closes.
    for (const auto& queue : queues_) {
        queue->stop();
    }
    frontend_->close();
    spdlog::info("{}: closed", name_);
}

}  // namespace pvsim::frontend::virtio_blk
