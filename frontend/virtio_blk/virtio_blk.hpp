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
// socket. A device that misbehaves fails the device: every request in
// flight and every later one completes with -ENODEV, and error() says why.
//
// A device that goes away (the socket hangs up) fails it too, unless
// options.reconnect is set: then the driver does what QEMU's vhost-user-blk
// does with `-chardev socket,reconnect=N` (hw/block/vhost-user-blk.c,
// vhost_user_blk_event). On the hangup (CHR_EVENT_CLOSED,
// vhost_user_blk_disconnect) each queue holds: new requests wait, the last
// completions are taken, and the requests the device had not answered are
// taken back from the ring (virtqueue_detach_unused_buf) and queued again.
// Every `reconnect` it connects to the socket again (the chardev's
// reconnect timer) and, once it answers (CHR_EVENT_OPENED,
// vhost_user_blk_connect), runs the whole handshake again with the
// features negotiated first, the same memory table and each ring from
// where the driver is (SET_VRING_BASE = its avail idx; the device reads the
// used idx from the ring), then issues what was held. It retries for ever,
// as QEMU does; close() ends the wait. pvsim's devices offer no inflight
// region (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), and the driver needs none:
// it knows what it has not had answered and issues that again, which is
// safe because a read, write, flush or discard issued twice leaves the disk
// as once does. A device that comes back without a feature negotiated
// before, or with another capacity, block size, read-only flag or too few
// queues fails the disk: the driver has no config-change path (QEMU reads
// the config only at realize and sets the guest's features again without
// comparing; pvsim refuses rather than run on a disk that changed).

#pragma once

#include <chrono>
#include <condition_variable>
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
    // QEMU's `-chardev socket,reconnect=SECONDS`: after the device hangs
    // up, connect again this often; 0 = a hangup fails the device.
    std::chrono::milliseconds reconnect{0};
    std::string name{};  // in logs; default "vhost-user-blk <socket>"
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
    // False from the device hanging up until it is connected again (with
    // options.reconnect).
    bool connected() const;

    // The disk is going (its directory went) but may still be held: a
    // device that hung up is not connected to again, and what the disk
    // holds for it, and every later request, completes with -ENODEV. While
    // connected nothing changes until the device hangs up. Does not block.
    void give_up();

    // The clean close described above; idempotent. Not from a completion
    // callback. Never throws: a device that is gone or does not answer is
    // logged and let go.
    void close() noexcept;

  private:
    friend std::unique_ptr<VirtioBlk> open_virtio_blk(hypervisor::DomainMemory& memory,
                                                      const std::string& socket,
                                                      VirtioBlkOptions options);
    VirtioBlk(std::string name, hypervisor::DomainMemory& memory, std::string socket,
              VirtioBlkOptions options, std::unique_ptr<VhostUserFrontend> frontend,
              DiskConfig disk, std::uint64_t protocol_features);

    // A queue failed: the whole device goes with it.
    void on_queue_failure(const std::string& reason);
    // A queue saw the device hang up (options_.reconnect).
    void on_hangup();
    // The reconnecting thread: waits for a hangup, holds and requeues,
    // connects again every options_.reconnect, resumes.
    void reconnect_loop();
    // One attempt: connect, handshake, rings from where the driver is.
    // Throws VhostUserError to try again later, std::runtime_error for a
    // device that came back changed.
    std::unique_ptr<VhostUserFrontend> connect_again();
    // Whether the connection's socket has hung up (or is closed).
    bool hung_up() const;

    const std::string name_;
    hypervisor::DomainMemory& memory_;
    const std::string socket_;
    const VirtioBlkOptions options_;
    // Replaced by the reconnecting thread only, while the queues hold.
    std::unique_ptr<VhostUserFrontend> frontend_;
    const DiskConfig disk_;
    const std::uint64_t protocol_features_;
    std::vector<std::unique_ptr<VirtioBlkQueue>> queues_;  // fixed once open

    mutable std::mutex mutex_;  // what follows
    QueueMap queue_map_;
    std::string error_;
    bool closed_ = false;
    bool connected_ = true;
    bool hangup_reported_ = false;  // a queue saw the hangup; the thread not yet
    bool stopping_ = false;         // close(): the reconnecting thread ends
    bool giving_up_ = false;        // give_up(): no reconnect, the next hangup fails
    std::condition_variable reconnect_cv_;
    std::uint64_t reconnections_ = 0;
    std::uint64_t resubmitted_ = 0;
    std::thread reconnector_;
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
