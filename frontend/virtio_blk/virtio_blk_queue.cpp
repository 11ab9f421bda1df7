#include "frontend/virtio_blk/virtio_blk_queue.hpp"

#include <utility>

#include "frontend/request_engine_impl.hpp"

namespace pvsim::frontend {
template class RequestEngine<virtio_blk::VirtioBlkVq>;
}  // namespace pvsim::frontend

namespace pvsim::frontend::virtio_blk {

VirtioBlkQueue::VirtioBlkQueue(hypervisor::DomainMemory& memory, const QueueConfig& config,
                               FailureHandler on_failure, HangupHandler on_hangup)
    : RequestEngine(QueueOptions{.name = config.name,
                                 .capacity = config.disk.capacity,
                                 .poll = config.poll,
                                 .contention = config.contention,
                                 .on_failure = std::move(on_failure),
                                 .on_hangup = std::move(on_hangup)},
                    memory, config) {}

}  // namespace pvsim::frontend::virtio_blk
