// The keys a frontend writes to hand its ring over, read as Linux blkback's
// connect_ring and read_per_ring_refs read them (xen-blkback/xenbus.c;
// blkif.h "Frontend Transport Parameters"):
//   protocol               missing means native; pvsim speaks x86_64-abi only
//   feature-persistent     pvsim offers 0, so a 1 here is ignored
//   multi-queue-num-queues missing means 1; pvsim offers 1 queue
//   ring-page-order        missing means one page via "ring-ref"; pvsim
//                          offers max-ring-page-order 0, so only 0
//                          ("ring-ref0") is accepted
//   ring-ref, event-channel
// Anything blkback cannot use is a NodeError naming the node and value,
// which the control plane turns into the error node and Closing.
#pragma once

#include <string>

#include "backend/blkback/node_values.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::blkback {

// What blkback publishes as its limits before InitWait.
inline constexpr unsigned kMaxRingPageOrder = 0;
inline constexpr unsigned kMaxQueues = 1;
inline constexpr unsigned kMaxIndirectSegments = 0;

struct FrontendRing {
    xen::GrantRef ring_ref = 0;
    xen::EvtchnPort event_channel = 0;
    // As written, or "" when missing.
    std::string protocol;
    bool persistent = false;
};

FrontendRing read_frontend_ring(xenstore::client::Client& client, const std::string& frontend);

}  // namespace pvsim::backend::blkback
