// The keys a frontend writes to hand its ring(s) over, read as Linux
// blkback's connect_ring and read_per_ring_refs read them
// (xen-blkback/xenbus.c; blkif.h "Frontend Transport Parameters"):
//   protocol               x86_64-abi (native) or x86_32-abi: the layout of
//                          the ring's slots (common/xen/blkif_x86_32.hpp);
//                          any other string is refused. Missing means
//                          native here; Linux on x86 assumes x86_32-abi
//                          (common.h BLKIF_PROTOCOL_DEFAULT), a difference
//                          no frontend that writes the node can see
//   feature-persistent     1: the frontend uses persistent grants
//   multi-queue-num-queues missing means 1 (flat keys); n > 1: one
//                          queue-K/ directory per queue, K = 0..n-1, each
//                          with its ring-ref(s) and event-channel
//   ring-page-order        at the top; missing means one page via
//                          "ring-ref"; present (even 0), 2^order pages via
//                          "ring-ref0".."ring-refN-1", up to the offer.
//                          This is Linux 5.11 and later (blkif->multi_ref,
//                          "xen-blkback: fix compatibility bug with single
//                          page rings"); 5.0-5.10 fell back from ring-ref0
//                          to ring-ref, and so mapped a stale ring-ref0 left
//                          by an earlier frontend.
//   ring-ref, event-channel
// Anything blkback cannot use is a NodeError naming the node and value,
// which the control plane turns into the error node and Closing.
#pragma once

#include <string>
#include <vector>

#include "common/xen/blkif_x86_32.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/node_values.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::blkback {

// What blkback offered before InitWait (max-ring-page-order,
// multi-queue-max-queues): a frontend asking more is refused.
struct RingOffer {
    unsigned max_ring_page_order = 0;
    unsigned max_queues = 1;
};

struct FrontendQueue {
    std::vector<xen::GrantRef> ring_refs;  // 2^ring_page_order of them
    xen::EvtchnPort event_channel = 0;
};

struct FrontendRing {
    // Queue 0's first ring ref and its port.
    xen::GrantRef ring_ref = 0;
    xen::EvtchnPort event_channel = 0;
    // As written, or "" when missing; and the layout it names.
    std::string protocol;
    xen::BlkifProtocol abi = xen::BlkifProtocol::x86_64;
    bool persistent = false;
    unsigned ring_page_order = 0;
    std::vector<FrontendQueue> queues;
};

FrontendRing read_frontend_ring(xenstore::client::Client& client, const std::string& frontend,
                                const RingOffer& offer = {});

}  // namespace pvsim::backend::blkback
