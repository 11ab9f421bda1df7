// What blkfront settles with blkback before the rings carry anything (Linux
// xen-blkfront.c: talk_to_blkback, negotiate_mq, setup_blkring,
// write_per_ring_nodes, and blkfront_gather_backend_features). Apart from the
// state machine (xenbus_frontend.hpp) so that the choice of queues, ring
// size and features - which both ends' limits decide, and which a reconnect
// may decide differently - can be read and checked on its own.
//
// The rings: n = min(our max_queues, the backend's multi-queue-max-queues)
// queues of 2^order pages, order = min(our max_ring_page_order, the
// backend's max-ring-page-order). Their keys go in one transaction: ring-ref
// (order 0) or ring-page-order + ring-ref0..N-1, and event-channel - under
// queue-K/ with multi-queue-num-queues when n > 1 - then protocol
// (our guest's ring layout: x86_64-abi, or x86_32-abi for a 32-bit guest)
// and feature-persistent (ours).
//
// The features, once the backend is Connected: persistent grants when both
// offer them, indirect segments min(ours, the backend's) when above 11,
// discard, flush-cache and barrier when offered and ours allows.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "common/xen/blkif_features.hpp"
#include "common/xen/blkif_x86_32.hpp"
#include "frontend/blkfront/disk_info.hpp"
#include "frontend/blkfront/ring_page.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::frontend::blkfront {

// One queue's ring as set up for the backend.
struct FrontRing {
    std::unique_ptr<RingPage> pages;
    hypervisor::EventChannel channel;  // until its data plane takes it
};

struct RingLayout {
    unsigned queues = 1;
    unsigned order = 0;  // ring-page-order: 2^order pages per ring
};

// negotiate_mq and setup_blkring's order: reads the backend's
// multi-queue-max-queues and max-ring-page-order through `backend` and
// takes as much as both ends allow. Throws std::invalid_argument for a value
// that makes no sense, and whatever `backend` throws.
RingLayout negotiate_rings(const xen::BlkifFeatureConfig& ours, const BackendNodeReader& backend);

// write_per_ring_nodes and the rest of talk_to_blkback's transaction, in
// `t` under `nodename`: drops the keys of an earlier negotiation (a
// reconnect may take another ring size or queue count, and stale ones would
// mislead the backend), then writes those of `rings` (2^order pages each),
// protocol and feature-persistent. The state is the caller's to write.
void write_ring_keys(xenstore::client::Transaction& t, const std::string& nodename, unsigned order,
                     std::span<const FrontRing> rings, bool persistent,
                     xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64);

// blkfront_gather_backend_features: what the backend offers in `offered`,
// as far as our configuration lets us use it.
DiskInfo negotiate_features(DiskInfo offered, const xen::BlkifFeatureConfig& ours);

}  // namespace pvsim::frontend::blkfront
