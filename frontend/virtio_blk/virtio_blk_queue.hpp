// The virtio-blk driver's data plane for one virtqueue (Linux virtio_blk.c
// with blk-mq: one hardware queue per struct virtio_blk_vq): the request
// engine (request_engine.hpp: queueing, the completion thread, stop and
// failure rules) over a virtqueue (virtio_blk_vq.hpp: request slots,
// descriptor chains, used entries). It never speaks vhost-user: the control
// plane (virtio_blk.cpp) hands the queue's addresses and eventfds to the
// device and then start()s it.
//
// A write to a read-only device goes to the device, which refuses it
// (VIRTIO_BLK_S_IOERR: -EIO), as blkfront lets it reach blkback.
#pragma once

#include <functional>
#include <string>

#include "frontend/request_engine.hpp"
#include "frontend/virtio_blk/virtio_blk_vq.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {

class VirtioBlkQueue final : public RequestEngine<VirtioBlkVq> {
  public:
    using FailureHandler = std::function<void(const std::string& reason)>;
    using HangupHandler = std::function<void()>;

    // Lays the queue out in `memory` (which must outlive this). No thread
    // yet: start() once the device has the queue. With `on_hangup` the
    // device hanging up holds the queue instead of failing it
    // (QueueOptions::on_hangup).
    VirtioBlkQueue(hypervisor::DomainMemory& memory, const QueueConfig& config,
                   FailureHandler on_failure = {}, HangupHandler on_hangup = {});

    // For the handshake: where the queue lies, and the eventfds to send.
    const VirtqueueDriver& virtqueue() const noexcept { return transport().virtqueue(); }
    int kick_fd() const noexcept { return transport().kick_fd(); }
    int call_fd() const noexcept { return transport().call_fd(); }
    // Takes what the call eventfd holds (the device signals it once on
    // SET_VRING_CALL, as libvhost-user does "in case of I/O hang after
    // reconnecting"). Before start().
    void drain_call() { transport().drain_call(); }
    // The socket of a new connection, watched from the next resume() on.
    void set_hangup_fd(int fd) noexcept { transport().set_hangup_fd(fd); }
};

}  // namespace pvsim::frontend::virtio_blk
