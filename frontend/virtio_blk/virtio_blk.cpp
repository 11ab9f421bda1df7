#include "frontend/virtio_blk/virtio_blk.hpp"

#include <poll.h>

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

// What GET_FEATURES .. SET_FEATURES and SET_MEM_TABLE settled (QEMU's
// vhost_dev_init, then the memory table of vhost_dev_start).
struct Negotiated {
    std::uint64_t features = 0;
    std::uint64_t protocol = 0;
    DiskConfig disk;
};

// The handshake up to the rings, in the order the header gives. With
// `before` (a reconnect) the features and protocol features negotiated then
// are set again, and a device that no longer offers one of them, or whose
// disk changed, or that has fewer than `queues` queues, is refused with
// std::runtime_error; VhostUserError is the connection failing.
Negotiated negotiate(VhostUserFrontend& frontend, hypervisor::DomainMemory& memory,
                     const std::string& name, std::uint32_t queue_size,
                     const Negotiated* before = nullptr, std::size_t queues = 0) {
    Negotiated n;
    const std::uint64_t offered = frontend.get_features();
    try {
        n.features = select_features(offered);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(name + ": " + e.what());
    }
    if (before) {
        if (const std::uint64_t lost = before->features & ~n.features; lost != 0) {
            throw std::runtime_error(name + ": the device no longer offers " +
                                     virtio::describe_blk_features(lost));
        }
        n.features = before->features;
    }
    const bool protocol_features_negotiated =
        (n.features & virtio::feature_mask(vhost_user::kFProtocolFeatures)) != 0;

    if (protocol_features_negotiated) {
        const std::uint64_t offered_protocol = frontend.get_protocol_features();
        n.protocol = select_protocol_features(offered_protocol);
        if (before) {
            if ((before->protocol & ~offered_protocol) != 0) {
                throw std::runtime_error(name +
                                         ": the device no longer offers the vhost-user protocol "
                                         "features negotiated before");
            }
            n.protocol = before->protocol;
        }
        frontend.set_protocol_features(n.protocol);
    }
    // QEMU's front-end also asks GET_QUEUE_NUM here; the handshake both
    // pvsim's device and qemu-storage-daemon are built for does not, and
    // num_queues in the config space says the same.
    frontend.set_owner();

    if (!has_protocol(n.protocol, vhost_user::ProtocolFeature::config)) {
        throw std::runtime_error(name +
                                 ": the device does not offer VHOST_USER_PROTOCOL_F_CONFIG, so "
                                 "the disk's capacity cannot be read");
    }
    std::vector<std::byte> config = frontend.get_config(kConfigSize);
    if (config.empty()) {
        spdlog::debug("{}: GET_CONFIG of {} bytes declined; asking for {}", name, kConfigSize,
                      kConfigSizeWithoutSecureErase);
        config = frontend.get_config(kConfigSizeWithoutSecureErase);
    }
    if (config.empty()) {
        throw std::runtime_error(name + ": the device answered GET_CONFIG with nothing");
    }
    // A request's chain is at most the queue size, indirect or not
    // (VirtqueueDriver::max_chain()).
    try {
        n.disk = read_disk_config(config, n.features, queue_size);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(name + ": " + e.what());
    }
    if (before) {
        const DiskConfig& was = before->disk;
        if (n.disk.capacity != was.capacity || n.disk.sector_size != was.sector_size ||
            n.disk.read_only != was.read_only || n.disk.device_queues < queues) {
            throw std::runtime_error(
                name + ": the device came back as another disk (" +
                std::to_string(n.disk.capacity) + " sectors of " +
                std::to_string(n.disk.sector_size) + (n.disk.read_only ? ", read-only" : "") +
                ", " + std::to_string(n.disk.device_queues) + " queue(s); was " +
                std::to_string(was.capacity) + " of " + std::to_string(was.sector_size) +
                (was.read_only ? ", read-only" : "") + ", " + std::to_string(queues) + ")");
        }
    }

    frontend.set_features(n.features);

    const vhost_user::MemoryRegion region{.guest_phys_addr = 0,
                                          .memory_size = memory.size(),
                                          .userspace_addr = user_addr(memory, 0),
                                          .mmap_offset = 0};
    const int memory_fd = memory.fd();
    frontend.set_mem_table({&region, 1}, {&memory_fd, 1});
    return n;
}

// SET_VRING_NUM .. SET_VRING_ENABLE for one queue (QEMU's
// vhost_virtqueue_start), its base where the driver is: 0 on a new queue,
// the avail idx it has reached on a reconnect.
void start_vring(VhostUserFrontend& vhost, const hypervisor::DomainMemory& memory,
                 std::uint32_t index, const VirtioBlkQueue& queue, bool enable) {
    const VirtqueueDriver& vq = queue.virtqueue();
    vhost.set_vring_num(index, vq.size());
    vhost.set_vring_base(index, vq.avail_idx());
    vhost.set_vring_addr(vhost_user::VringAddr{.index = index,
                                               .flags = 0,
                                               .desc_user_addr = user_addr(memory, vq.desc_gpa()),
                                               .used_user_addr = user_addr(memory, vq.used_gpa()),
                                               .avail_user_addr = user_addr(memory, vq.avail_gpa()),
                                               .log_guest_addr = 0});
    vhost.set_vring_kick(index, queue.kick_fd());
    vhost.set_vring_call(index, queue.call_fd());
    if (enable) {
        // With VHOST_USER_F_PROTOCOL_FEATURES rings start disabled.
        vhost.set_vring_enable(index, true);
    }
}

bool protocol_features_negotiated(const DiskConfig& disk) {
    return (disk.features & virtio::feature_mask(vhost_user::kFProtocolFeatures)) != 0;
}

}  // namespace

std::unique_ptr<VirtioBlk> open_virtio_blk(hypervisor::DomainMemory& memory,
                                           const std::string& socket, VirtioBlkOptions options) {
    check_options(options);
    const std::string name = options.name.empty() ? "vhost-user-blk " + socket : options.name;
    auto frontend =
        std::make_unique<VhostUserFrontend>(socket, options.connect_timeout, options.reply_timeout);
    const Negotiated n = negotiate(*frontend, memory, name, options.queue_size);
    const DiskConfig& disk = n.disk;

    unsigned queues = 1;
    if (has_protocol(n.protocol, vhost_user::ProtocolFeature::mq)) {
        queues = std::min({options.num_queues, disk.device_queues, kMaxQueues});
        queues = std::max(queues, 1U);
    }
    spdlog::info("{}: features {}, {} sectors of {} bytes, {} queue(s) of {}{}", name,
                 virtio::describe_blk_features(n.features), disk.capacity, disk.sector_size, queues,
                 options.queue_size, disk.read_only ? ", read-only" : "");

    std::unique_ptr<VirtioBlk> device(
        new VirtioBlk(name, memory, socket, options, std::move(frontend), disk, n.protocol));
    VhostUserFrontend& vhost = *device->frontend_;
    for (std::uint32_t index = 0; index < queues; ++index) {
        QueueConfig queue_config{.name = name + " queue " + std::to_string(index),
                                 .queue_size = options.queue_size,
                                 .disk = disk,
                                 .poll = options.poll,
                                 .hangup_fd = vhost.fd()};
        VirtioBlkQueue::HangupHandler on_hangup;
        if (options.reconnect.count() > 0) {
            on_hangup = [raw = device.get()] { raw->on_hangup(); };
        }
        auto queue = std::make_unique<VirtioBlkQueue>(
            memory, std::move(queue_config),
            [raw = device.get()](const std::string& reason) { raw->on_queue_failure(reason); },
            std::move(on_hangup));
        start_vring(vhost, memory, index, *queue, protocol_features_negotiated(disk));
        // libvhost-user signals the call eventfd once on SET_VRING_CALL.
        queue->drain_call();
        device->queues_.push_back(std::move(queue));
    }
    for (const auto& queue : device->queues_) {
        queue->drain_call();
        queue->start();
    }
    if (options.reconnect.count() > 0) {
        device->reconnector_ = std::thread([raw = device.get()] { raw->reconnect_loop(); });
    }
    return device;
}

VirtioBlk::VirtioBlk(std::string name, hypervisor::DomainMemory& memory, std::string socket,
                     VirtioBlkOptions options, std::unique_ptr<VhostUserFrontend> frontend,
                     DiskConfig disk, std::uint64_t protocol_features)
    : name_(std::move(name)),
      memory_(memory),
      socket_(std::move(socket)),
      options_(std::move(options)),
      frontend_(std::move(frontend)),
      disk_(disk),
      protocol_features_(protocol_features) {}

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
    std::lock_guard lock(mutex_);
    sum.reconnections = reconnections_;
    sum.resubmitted = resubmitted_;
    return sum;
}

bool VirtioBlk::connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
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

void VirtioBlk::give_up() {
    {
        std::lock_guard lock(mutex_);
        giving_up_ = true;
    }
    reconnect_cv_.notify_all();
}

void VirtioBlk::on_hangup() {
    {
        std::lock_guard lock(mutex_);
        hangup_reported_ = true;
    }
    reconnect_cv_.notify_all();
}

bool VirtioBlk::hung_up() const {
    if (!frontend_->connected()) {
        return true;
    }
    pollfd pfd{.fd = frontend_->fd(), .events = POLLRDHUP, .revents = 0};
    return ::poll(&pfd, 1, 0) != 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::unique_ptr<VhostUserFrontend> VirtioBlk::connect_again() {
    // One connect: the next try is the next interval's.
    auto frontend = std::make_unique<VhostUserFrontend>(socket_, std::chrono::milliseconds(0),
                                                        options_.reply_timeout);
    const Negotiated before{
        .features = disk_.features, .protocol = protocol_features_, .disk = disk_};
    negotiate(*frontend, memory_, name_, options_.queue_size, &before, queues_.size());
    for (std::uint32_t index = 0; index < queues_.size(); ++index) {
        start_vring(*frontend, memory_, index, *queues_[index],
                    protocol_features_negotiated(disk_));
    }
    return frontend;
}

void VirtioBlk::reconnect_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        reconnect_cv_.wait(lock, [this] { return hangup_reported_ || stopping_; });
        if (stopping_) {
            return;
        }
        hangup_reported_ = false;
        lock.unlock();
        // A queue may tell of a hangup it saw before the last reconnect:
        // only a socket that has hung up is one.
        if (!hung_up()) {
            lock.lock();
            continue;
        }
        // vhost_user_blk_disconnect: the rings stop; what the device had
        // not answered waits in the queues to be issued again.
        std::size_t taken = 0;
        for (const auto& queue : queues_) {
            taken += queue->requeue();
        }
        frontend_->close();
        spdlog::warn(
            "{}: the device closed the connection; {} request(s) held, connecting "
            "again every {} ms",
            name_, taken, options_.reconnect.count());
        lock.lock();
        connected_ = false;
        std::unique_ptr<VhostUserFrontend> next;
        std::string last_error;
        while (!next) {
            if (reconnect_cv_.wait_for(lock, options_.reconnect,
                                       [this] { return stopping_ || giving_up_; })) {
                if (giving_up_ && !stopping_) {
                    lock.unlock();
                    on_queue_failure(name_ + ": detached while its device was away");
                }
                return;
            }
            lock.unlock();
            // vhost_user_blk_connect: the whole handshake again.
            try {
                next = connect_again();
            } catch (const VhostUserError& e) {
                if (last_error != e.what()) {
                    spdlog::info("{}: not connected again yet: {}", name_, e.what());
                    last_error = e.what();
                }
            } catch (const std::exception& e) {
                // Also fails the queues: what they hold completes with
                // -ENODEV.
                spdlog::error("{}; device disabled for further use", e.what());
                on_queue_failure(e.what());
                lock.lock();
                hangup_reported_ = false;
                return;
            }
            lock.lock();
        }
        frontend_ = std::move(next);
        connected_ = true;
        ++reconnections_;
        resubmitted_ += taken;
        lock.unlock();
        for (const auto& queue : queues_) {
            queue->set_hangup_fd(frontend_->fd());
            queue->resume();
        }
        spdlog::info("{}: connected again; {} request(s) issued again", name_, taken);
        lock.lock();
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
        stopping_ = true;
    }
    reconnect_cv_.notify_all();
    if (reconnector_.joinable()) {
        reconnector_.join();
    }
    bool gone = true;
    try {
        gone = hung_up();
        if (gone) {
            // Gone (and perhaps being waited for): nothing on the rings will
            // be answered, so nothing is waited for; what they held fails
            // below with the rest.
            for (const auto& queue : queues_) {
                queue->requeue();
            }
        }
        for (const auto& queue : queues_) {
            queue->stop_accepting("device closed");
        }
        for (const auto& queue : queues_) {
            if (!queue->wait_idle(options_.reply_timeout)) {
                spdlog::warn("{}: requests still on the queue at close; they fail with ENODEV",
                             name_);
            }
        }
        if (!gone && !failed()) {
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
