// The counters of one vbd (issue: "Counters per vbd"), in the spirit of
// Linux blkback's sysfs statistics (xen-blkback/xenbus.c: oo_req, rd_req,
// wr_req, f_req, rd_sect, wr_sect) plus what DESIGN.md §10 says the design
// controls: notifications each way and those the event indices suppressed,
// grant maps and unmaps and the hypercalls that carried them.
//
// The ring thread is the only writer; any thread may read. Counts survive a
// reconnection of the ring: they belong to the vbd.
#pragma once

#include <atomic>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace pvsim::backend::blkback {

// A consistent-enough copy for reports (each field read atomically).
struct VbdCounters {
    std::uint64_t requests = 0;       // taken off the ring, good or bad
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
    // Events taken from the event channel.
    std::uint64_t notifications_received = 0;
    std::uint64_t grant_maps = 0;  // pages mapped
    std::uint64_t grant_unmaps = 0;
    std::uint64_t grant_map_failures = 0;  // slots that did not map
    std::uint64_t map_hypercalls = 0;      // batched GNTTABOP_map_grant_ref calls
    std::uint64_t unmap_hypercalls = 0;
    // Adaptive polling (DESIGN.md §10): times the loop found work while
    // polling, and times it went to sleep.
    std::uint64_t poll_hits = 0;
    std::uint64_t sleeps = 0;
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
    nlohmann::json to_json() const;
};

class VbdMetrics {
  public:
    using Counter = std::atomic<std::uint64_t>;

    // Bumps one counter; relaxed, since the counters order nothing.
    static void add(Counter& counter, std::uint64_t n = 1) noexcept {
        counter.fetch_add(n, std::memory_order_relaxed);
    }
    // For the gauges (persistent_grants).
    static void sub(Counter& counter, std::uint64_t n = 1) noexcept {
        counter.fetch_sub(n, std::memory_order_relaxed);
    }

    VbdCounters snapshot() const noexcept;
    nlohmann::json to_json() const { return snapshot().to_json(); }

    Counter requests{0};
    Counter reads{0};
    Counter writes{0};
    Counter flushes{0};
    Counter errors{0};
    Counter unsupported{0};
    Counter segments{0};
    Counter bytes_read{0};
    Counter bytes_written{0};
    Counter responses{0};
    Counter notifications_sent{0};
    Counter notifications_suppressed{0};
    Counter notifications_received{0};
    Counter grant_maps{0};
    Counter grant_unmaps{0};
    Counter grant_map_failures{0};
    Counter map_hypercalls{0};
    Counter unmap_hypercalls{0};
    Counter poll_hits{0};
    Counter sleeps{0};
    Counter persistent_grants{0};
    Counter persistent_purged{0};
    Counter grant_copies{0};
    Counter copy_hypercalls{0};
    Counter indirect_requests{0};
    Counter discards{0};
    Counter barriers{0};
};

}  // namespace pvsim::backend::blkback
