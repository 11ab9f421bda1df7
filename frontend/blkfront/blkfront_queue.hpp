// blkfront's data plane for one ring (Linux xen-blkfront.c with blk-mq: one
// hardware queue per struct blkfront_ring_info): the request engine
// (request_engine.hpp: queueing, the completion thread, stop and failure
// rules) over a blkif ring (blkfront_ring.hpp: grants, shadow table,
// responses). A device with several rings has one queue per ring behind a
// QueueSet. It never touches xenstore: the control plane
// (xenbus_frontend.hpp) hands it a ring that is already granted, an event
// channel the backend has bound, and what the backend published about the
// disk, and tells it when the backend is closing or gone.
//
// A write to a read-only disk goes to the backend, which refuses it
// (BLKIF_RSP_ERROR), as Linux's block layer lets it through.
//
// blkif_recover's part here (hold(), take_unfinished()) is the engine's;
// recover.cpp shows the whole sequence with the control plane's part.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "frontend/blkfront/blkfront_ring.hpp"
#include "frontend/request_engine.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

class BlkfrontQueue final : public RequestEngine<BlkfrontRing> {
  public:
    // Called once, from the completion thread, when a response fails the
    // queue, with the reason.
    using FailureHandler = std::function<void(const std::string& reason)>;

    // `ring_area` is the ring page(s), initialised and granted, which must
    // outlive disconnect(); `channel` is bound by the backend. Starts the
    // completion thread.
    BlkfrontQueue(hypervisor::Hypervisor& hypervisor, void* ring_area, std::size_t ring_bytes,
                  hypervisor::EventChannel channel, const DataPlaneConfig& config,
                  FailureHandler on_failure = {});

    const DataPlaneConfig& config() const noexcept { return transport().config(); }
};

}  // namespace pvsim::frontend::blkfront
