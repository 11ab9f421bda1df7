// One virtqueue as the virtio-blk driver drives it (Linux virtio_blk.c:
// struct virtio_blk_vq, with virtblk_add_req, virtio_queue_rq's kick
// decision and virtblk_done's used-ring loop), the transport of a
// VirtioBlkQueue (request_engine.hpp says what a transport does; the engine
// owns the queueing, the completion thread and the failure rules).
//
// A part is one virtio-blk request (request_builder.hpp). Each gets a
// request slot in guest memory holding its header, discard range and status
// byte, and goes on the queue as one chain (virtio 1.2 §5.2.6: header,
// data, status; virtqueue_driver.hpp: indirect when negotiated).
// publish() is virtqueue_kick_prepare (avail_event with EVENT_IDX), arm()
// virtqueue_enable_cb (used_event, then a last look) and disarm()
// virtqueue_disable_cb. The vhost-user socket is watched: the device hanging
// up fails the queue.
//
// Not thread-safe: the queue calls it under its lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/os/cpu_contention.hpp"
#include "common/os/event_fd.hpp"
#include "frontend/pending_io.hpp"
#include "frontend/request_engine.hpp"
#include "frontend/virtio_blk/counters.hpp"
#include "frontend/virtio_blk/guest_page.hpp"
#include "frontend/virtio_blk/negotiate.hpp"
#include "frontend/virtio_blk/request_builder.hpp"
#include "frontend/virtio_blk/virtqueue_driver.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {

struct QueueConfig {
    std::string name;  // in logs and errors, e.g. "vhost-user-blk /run/x.sock queue 0"
    std::uint32_t queue_size = VirtqueueDriver::kMaxQueueSize;
    DiskConfig disk;                     // negotiated features, capacity, limits
    std::chrono::microseconds poll{50};  // the polling window's maximum; 0 = off
    // Where the completion thread learns that more threads are runnable than
    // CPUs, when it does not poll (QueueOptions::contention).
    os::CpuContention::Options contention;
    int hangup_fd = -1;  // the vhost-user socket (watched, never read)
};

class VirtioBlkVq {
  public:
    using Plan = VirtioBlkRequestPlan;
    using Counters = VirtioBlkCounters;

    // Lays the queue and its request slots out in `memory` (which must
    // outlive this) and creates its kick and call eventfds.
    VirtioBlkVq(hypervisor::DomainMemory& memory, const QueueConfig& config);
    VirtioBlkVq(const VirtioBlkVq&) = delete;
    VirtioBlkVq& operator=(const VirtioBlkVq&) = delete;

    // The transport (request_engine.hpp).
    std::vector<Plan> plan(const BlockRequest& request) const {
        return plan_requests(request, config_.disk.limits);
    }
    bool supports_discard() const noexcept { return config_.disk.discard; }
    bool flush_reaches_device() const noexcept { return config_.disk.flush; }
    // virtio-blk has no FUA (virtio 1.2 §5.2.6): a write and a flush.
    bool supports_fua() const noexcept { return false; }
    std::uint32_t sector_size() const noexcept { return config_.disk.sector_size; }
    bool read_only() const noexcept { return config_.disk.read_only; }
    bool has_room() const noexcept { return !free_tokens_.empty() && vq_.free_descriptors() > 0; }
    bool put(Plan& plan, const std::shared_ptr<PendingIo>& io, FinishedIo& finished);
    Publish publish();
    void notify() { kick_.signal(); }  // virtqueue_notify: the device's kick eventfd
    std::optional<std::string> take_completions(FinishedIo& finished, bool& worked);
    bool completions_pending() const noexcept { return vq_.more_used(); }
    bool arm() { return !vq_.enable_notifications(); }
    void disarm() { vq_.disable_notifications(); }
    int notify_fd() const noexcept { return call_.fd(); }
    bool take_notification() { return call_.try_consume() != 0; }
    int hangup_fd() const noexcept { return hangup_fd_.load(std::memory_order_relaxed); }
    // The vhost-user socket of a new connection (a reconnect).
    void set_hangup_fd(int fd) noexcept { hangup_fd_.store(fd, std::memory_order_relaxed); }
    std::string hangup_reason() const { return "the vhost-user device closed the connection"; }
    std::size_t on_ring() const noexcept { return vq_.in_flight(); }
    std::optional<std::chrono::milliseconds> retry_interval() const noexcept {
        return std::nullopt;
    }
    bool retry(FinishedIo&) noexcept { return false; }
    void fail_all(FinishedIo& finished, int status);
    // Leaves the queue empty and usable: the slots and the chains in flight
    // are freed unanswered (VirtqueueDriver::detach_unused).
    template <class Take>
    void take_back(Take&& take, FinishedIo&) {
        for (std::uint32_t token = 0; token < slots_.size(); ++token) {
            if (slots_[token].io) {
                take(slots_[token].io);
                slots_[token] = Slot{};
                free_tokens_.push_back(token);
            }
        }
        vq_.detach_unused();
    }
    void close() noexcept {}
    Counters counters() const;
    LiveCounters<Counters>& live_counters() noexcept { return counters_; }

    // For the handshake: where the queue lies, and the eventfds to send.
    const VirtqueueDriver& virtqueue() const noexcept { return vq_; }
    int kick_fd() const noexcept { return kick_.fd(); }
    int call_fd() const noexcept { return call_.fd(); }
    // Takes what the call eventfd holds.
    void drain_call() { call_.try_consume(); }
    const QueueConfig& config() const noexcept { return config_; }

  private:
    struct Slot {  // a request on the queue, by token
        std::shared_ptr<PendingIo> io;
        virtio::BlkReqType type = virtio::BlkReqType::in;
    };

    // Where request slot `token`'s header, discard range and status live.
    std::byte* slot_bytes(std::uint32_t token) const;
    std::uint64_t slot_gpa(std::uint32_t token, std::size_t offset) const;

    hypervisor::DomainMemory& memory_;
    const QueueConfig config_;
    VirtqueueDriver vq_;
    std::vector<GuestPage> slot_pages_;
    std::vector<Slot> slots_;  // by token
    std::vector<std::uint32_t> free_tokens_;

    LiveCounters<VirtioBlkCounters> counters_;

    std::atomic<int> hangup_fd_;

    os::EventFd kick_{os::EventFd::Options{.nonblocking = true}};
    os::EventFd call_{os::EventFd::Options{.nonblocking = true}};
};

}  // namespace pvsim::frontend::virtio_blk
