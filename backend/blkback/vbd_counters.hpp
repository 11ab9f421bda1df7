// The counters of one vbd, in the spirit of
// Linux blkback's sysfs statistics (xen-blkback/xenbus.c: oo_req, rd_req,
// wr_req, f_req, rd_sect, wr_sect) plus what DESIGN.md §10 says the design
// controls: notifications each way and those the event indices suppressed,
// grant maps and unmaps and the hypercalls that carried them.
//
// Live, they are a LiveCounters<VbdCounters> (common/counter_set.hpp): the
// ring threads bump them, any thread takes a snapshot. Counts survive a
// reconnection of the ring: they belong to the vbd.
#pragma once

#include <array>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/counter_set.hpp"

namespace pvsim::backend::blkback {

// A consistent-enough copy for reports (each field read atomically).
struct VbdCounters {
    std::uint64_t requests = 0;       // taken off the ring, good or bad
    std::uint64_t replayed = 0;       // of those, taken from the journal (a restart)
    std::uint64_t reads = 0;          // rd_req
    std::uint64_t writes = 0;         // wr_req
    std::uint64_t flushes = 0;        // f_req
    std::uint64_t errors = 0;         // answered BLKIF_RSP_ERROR
    std::uint64_t unsupported = 0;    // answered BLKIF_RSP_EOPNOTSUPP
    std::uint64_t segments = 0;       // of the requests served
    std::uint64_t bytes_read = 0;     // rd_sect * 512
    std::uint64_t bytes_written = 0;  // wr_sect * 512
    std::uint64_t responses = 0;
    // Events sent to the frontend, and response pushes for which
    // RING_PUSH_RESPONSES_AND_CHECK_NOTIFY said none was needed.
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_suppressed = 0;
    // Events taken from the event channel, and those after which the ring
    // held no new request (Linux xenbus's spurious_events: past one in a
    // row, events are taken late, data_plane/late_eoi.hpp).
    std::uint64_t notifications_received = 0;
    std::uint64_t spurious_events = 0;
    std::uint64_t grant_maps = 0;  // pages mapped
    std::uint64_t grant_unmaps = 0;
    std::uint64_t grant_map_failures = 0;  // slots that did not map
    // Batched GNTTABOP_map_grant_ref / unmap_grant_ref calls: hypercalls on
    // Xen (gnttab_map_refs); in pvsim they run in this process (DESIGN.md
    // §3, "Where a grant map runs") and reach the hypervisor only for a
    // granter's first map.
    std::uint64_t map_hypercalls = 0;
    std::uint64_t unmap_hypercalls = 0;
    // Adaptive polling (DESIGN.md §10): times the loop found work while
    // polling, and times it went to sleep.
    std::uint64_t poll_hits = 0;
    std::uint64_t sleeps = 0;
    // Times it asked the frontend for an event before sleeping
    // (RING_FINAL_CHECK_FOR_REQUESTS moved req_event).
    std::uint64_t events_armed = 0;
    // Features (blkif.h; Linux's st_ds_req for discards): persistent grants
    // mapped now (every ring), and those purged from the table; grant copy
    // slots (copy mode); BLKIF_OP_INDIRECT, BLKIF_OP_DISCARD and
    // BLKIF_OP_WRITE_BARRIER requests served.
    std::uint64_t persistent_grants = 0;
    std::uint64_t persistent_purged = 0;
    std::uint64_t grant_copies = 0;
    std::uint64_t copy_hypercalls = 0;
    std::uint64_t indirect_requests = 0;
    std::uint64_t discards = 0;
    std::uint64_t barriers = 0;

    std::uint64_t bytes() const noexcept { return bytes_read + bytes_written; }
    // Every field by its name, and "bytes".
    nlohmann::json to_json() const;

    static constexpr auto kFields = std::to_array<CounterField<VbdCounters>>({
        {"requests", &VbdCounters::requests},
        {"replayed", &VbdCounters::replayed},
        {"reads", &VbdCounters::reads},
        {"writes", &VbdCounters::writes},
        {"flushes", &VbdCounters::flushes},
        {"errors", &VbdCounters::errors},
        {"unsupported", &VbdCounters::unsupported},
        {"segments", &VbdCounters::segments},
        {"bytes_read", &VbdCounters::bytes_read},
        {"bytes_written", &VbdCounters::bytes_written},
        {"responses", &VbdCounters::responses},
        {"notifications_sent", &VbdCounters::notifications_sent},
        {"notifications_suppressed", &VbdCounters::notifications_suppressed},
        {"notifications_received", &VbdCounters::notifications_received},
        {"spurious_events", &VbdCounters::spurious_events},
        {"grant_maps", &VbdCounters::grant_maps},
        {"grant_unmaps", &VbdCounters::grant_unmaps},
        {"grant_map_failures", &VbdCounters::grant_map_failures},
        {"map_hypercalls", &VbdCounters::map_hypercalls},
        {"unmap_hypercalls", &VbdCounters::unmap_hypercalls},
        {"poll_hits", &VbdCounters::poll_hits},
        {"sleeps", &VbdCounters::sleeps},
        {"events_armed", &VbdCounters::events_armed},
        {"persistent_grants", &VbdCounters::persistent_grants, CounterKind::gauge},
        {"persistent_purged", &VbdCounters::persistent_purged},
        {"grant_copies", &VbdCounters::grant_copies},
        {"copy_hypercalls", &VbdCounters::copy_hypercalls},
        {"indirect_requests", &VbdCounters::indirect_requests},
        {"discards", &VbdCounters::discards},
        {"barriers", &VbdCounters::barriers},
    });
};

}  // namespace pvsim::backend::blkback
