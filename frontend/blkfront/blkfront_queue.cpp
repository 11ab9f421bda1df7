#include "frontend/blkfront/blkfront_queue.hpp"

#include <utility>

#include "frontend/request_engine_impl.hpp"

namespace pvsim::frontend {
template class RequestEngine<blkfront::BlkfrontRing>;
}  // namespace pvsim::frontend

namespace pvsim::frontend::blkfront {

BlkfrontQueue::BlkfrontQueue(hypervisor::Hypervisor& hypervisor, void* ring_area,
                             std::size_t ring_bytes, hypervisor::EventChannel channel,
                             const DataPlaneConfig& config, FailureHandler on_failure)
    : RequestEngine(QueueOptions{.name = "blkfront " + config.name,
                                 .capacity = config.disk.sectors,
                                 .poll = config.poll,
                                 .contention = config.contention,
                                 .on_failure = std::move(on_failure),
                                 .on_hangup = {}},
                    hypervisor, ring_area, ring_bytes, std::move(channel), config) {
    start();
}

}  // namespace pvsim::frontend::blkfront
