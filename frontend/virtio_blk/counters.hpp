// The virtio-blk driver's per-device counts (DESIGN.md §10: the
// per-request counts the design controls), beside blkfront's
// BlkfrontCounters for the bench tables.
#pragma once

#include <array>
#include <cstdint>

#include "common/counter_set.hpp"

namespace pvsim::frontend::virtio_blk {

struct VirtioBlkCounters {
    std::uint64_t requests = 0;     // virtio-blk requests made available
    std::uint64_t completions = 0;  // used entries taken
    std::uint64_t bytes = 0;        // data the reads and writes among them move
    std::uint64_t flushes = 0;      // VIRTIO_BLK_T_FLUSH requests
    std::uint64_t discards = 0;     // VIRTIO_BLK_T_DISCARD requests
    // Kicks written to the kick eventfds, and kick decisions that found the
    // device needed none (avail_event said it was awake or polling).
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_suppressed = 0;
    // Reads of the call eventfds that found a notification (a device's
    // coalesced writes count once).
    std::uint64_t notifications_received = 0;
    // Requests made available as one indirect descriptor (§2.7.5.3).
    std::uint64_t indirect_requests = 0;
    // Data copied by the driver: always 0, the device reads and writes the
    // caller's pages in place.
    std::uint64_t data_copies = 0;
    // Gauge: the virtqueues in use.
    std::uint64_t queues = 0;
    // Connections made again to a device that hung up (QEMU's reconnect=),
    // and the requests issued again on them, each counted once per
    // reconnect that took it back (the device's, not a queue's).
    std::uint64_t reconnections = 0;
    std::uint64_t resubmitted = 0;

    static constexpr auto kFields = std::to_array<CounterField<VirtioBlkCounters>>({
        {"requests", &VirtioBlkCounters::requests},
        {"completions", &VirtioBlkCounters::completions},
        {"bytes", &VirtioBlkCounters::bytes},
        {"flushes", &VirtioBlkCounters::flushes},
        {"discards", &VirtioBlkCounters::discards},
        {"notifications_sent", &VirtioBlkCounters::notifications_sent},
        {"notifications_suppressed", &VirtioBlkCounters::notifications_suppressed},
        {"notifications_received", &VirtioBlkCounters::notifications_received},
        {"indirect_requests", &VirtioBlkCounters::indirect_requests},
        {"data_copies", &VirtioBlkCounters::data_copies},
        {"queues", &VirtioBlkCounters::queues, CounterKind::gauge},
        {"reconnections", &VirtioBlkCounters::reconnections},
        {"resubmitted", &VirtioBlkCounters::resubmitted},
    });
};

}  // namespace pvsim::frontend::virtio_blk
