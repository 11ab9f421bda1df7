// The guest's virtio-blk driver, which is also the vhost-user front-end
// (DESIGN.md §6): it shares the guest's memory with the device by fd, lays
// the virtqueues out in it, creates the kick and call eventfds, negotiates
// features, and then offers the same BlockDevice as blkfront, so the
// workload engine runs unchanged on either path.
//
// open_virtio_blk() runs the handshake in the order QEMU's front-end uses
// and qemu-storage-daemon 7.2 accepts (REFERENCES.md; vhost-user.rst):
//   GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
//   SET_OWNER, GET_CONFIG, SET_FEATURES,
//   SET_MEM_TABLE (one region: the whole guest memory, guest address 0),
//   then per queue SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR,
//   SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ENABLE.
// With several queues (VIRTIO_BLK_F_MQ's num_queues, and protocol MQ) work
// is spread by submitting thread as blkfront's QueueSet does
// (queue_map.hpp).
//
// close() (also run by the destructor) stops accepting, lets what is on
// the queues complete, stops each ring with GET_VRING_BASE and closes the
// socket. A device that goes away (the socket hangs up) or misbehaves fails
// the device: every request in flight and every later one completes with
// -ENODEV, and error() says why.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "frontend/block_device.hpp"
#include "frontend/queue_map.hpp"
#include "frontend/virtio_blk/counters.hpp"
#include "frontend/virtio_blk/negotiate.hpp"
#include "frontend/virtio_blk/vhost_user_frontend.hpp"
#include "frontend/virtio_blk/virtio_blk_queue.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {

struct VirtioBlkOptions {
    unsigned num_queues = 1;             // wanted, 1..16; fewer if the device has fewer
    std::uint32_t queue_size = 256;      // a power of two, at most 256
    std::chrono::microseconds poll{50};  // completion polling window; 0 = off
    std::chrono::milliseconds connect_timeout{5000};  // for the socket to accept
    std::chrono::milliseconds reply_timeout{5000};    // for each answer, and for close's drain
    std::string name{};                               // in logs; default "vhost-user-blk <socket>"
};

class VirtioBlk final : public BlockDevice {
  public:
    // Not from a completion callback.
    ~VirtioBlk() override;
    VirtioBlk(const VirtioBlk&) = delete;
    VirtioBlk& operator=(const VirtioBlk&) = delete;

    // BlockDevice; the rules for each request are VirtioBlkQueue::submit's.
    std::uint64_t capacity_sectors() const override;
    std::uint32_t sector_size() const override;
    bool read_only() const override;
    void submit(std::span<BlockRequest> batch) override;
    std::size_t in_flight() const override;
    std::string error() const override;

    // Summed over the queues.
    VirtioBlkCounters counters() const;
    // Negotiated features, capacity and request limits.
    const DiskConfig& disk() const noexcept { return disk_; }
    // Negotiated vhost-user protocol features.
    std::uint64_t protocol_features() const noexcept { return protocol_features_; }
    std::size_t queue_count() const noexcept { return queues_.size(); }
    // The queue the calling thread submits to (assigning one if it has
    // none yet).
    std::size_t queue_of_this_thread();
    const std::string& name() const noexcept { return name_; }
    bool failed() const;

    // The clean close described above; idempotent. Not from a completion
    // callback. Never throws: a device that is gone or does not answer is
    // logged and let go.
    void close() noexcept;

  private:
    friend std::unique_ptr<VirtioBlk> open_virtio_blk(hypervisor::DomainMemory& memory,
                                                      const std::string& socket,
                                                      VirtioBlkOptions options);
    VirtioBlk(std::string name, std::unique_ptr<VhostUserFrontend> frontend, DiskConfig disk,
              std::uint64_t protocol_features, std::chrono::milliseconds reply_timeout);

    // A queue failed: the whole device goes with it.
    void on_queue_failure(const std::string& reason);

    const std::string name_;
    std::unique_ptr<VhostUserFrontend> frontend_;
    const DiskConfig disk_;
    const std::uint64_t protocol_features_;
    const std::chrono::milliseconds reply_timeout_;
    std::vector<std::unique_ptr<VirtioBlkQueue>> queues_;  // fixed once open

    mutable std::mutex mutex_;  // what follows
    QueueMap queue_map_;
    std::string error_;
    bool closed_ = false;
    std::mutex close_mutex_;  // one close() at a time
};

// Connects to the vhost-user-blk device listening at `socket`, negotiates,
// sets up min(options.num_queues, the device's) queues in `memory` (which
// must outlive the device) and starts them. Throws std::invalid_argument
// for bad options, VhostUserError or std::runtime_error naming what the
// device did wrong or lacks, std::bad_alloc when the guest has too little
// memory for the queues.
std::unique_ptr<VirtioBlk> open_virtio_blk(hypervisor::DomainMemory& memory,
                                           const std::string& socket,
                                           VirtioBlkOptions options = {});

}  // namespace pvsim::frontend::virtio_blk
