// What `pvsim io` prints: the guest's job result (fio's JSON shape, from the
// workload engine) with what the design controls per request (DESIGN.md
// §10): blkif requests, notifications each way, hypercalls and grant
// operations, taken as the difference of the hypervisor's and the
// frontend's counters over the run.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/xen/grant_table.hpp"

namespace pvsim::tools::cli {

// The counters of one run: `frontend` is the agent's counter deltas
// (frontend/guest/agent_protocol.hpp), `before`/`after` the hypervisor's
// stats (control.hpp) around the run.
struct IoCounts {
    std::uint64_t requests = 0;  // blkif requests on the ring
    std::uint64_t notifications_to_backend = 0;
    std::uint64_t notifications_to_frontend = 0;
    std::uint64_t hypercalls = 0;    // guest's and backend domain's
    std::uint64_t grant_maps = 0;    // GNTTABOP_map_grant_ref slots
    std::uint64_t grant_unmaps = 0;  // GNTTABOP_unmap_grant_ref slots
    std::uint64_t grant_copies = 0;  // GNTTABOP_copy slots
    std::uint64_t grant_ops = 0;     // maps + unmaps + copies
    // blkfront's: requests sent as BLKIF_OP_INDIRECT, and segments copied
    // through its persistent pages (in and out).
    std::uint64_t indirect_requests = 0;
    std::uint64_t data_copies = 0;
    // Requests that flush: BLKIF_OP_FLUSH_DISKCACHE and WRITE_BARRIER
    // (with data or without), VIRTIO_BLK_T_FLUSH.
    std::uint64_t flushes = 0;
    std::uint64_t ios = 0;  // the job's I/Os (reads + writes)

    static IoCounts measure(const nlohmann::json& result, const nlohmann::json& frontend,
                            const nlohmann::json& before, const nlohmann::json& after,
                            xen::DomId guest, xen::DomId backend);
    // {"requests":N,...,"per_request":{"notifications_to_backend":x,...},
    //  "requests_per_io":x}
    nlohmann::json to_json() const;
    // Count per blkif request (0 without requests).
    double per_request(std::uint64_t count) const;
};

// fio-like human summary: one row per job and direction with IOPS,
// bandwidth and completion-latency percentiles (a write job's verify
// read-back is its read row, as fio shows it), then a verify line per job
// (one for the run when none verified) and the per-request counts.
// `request_kind` names the transport's requests ("blkif", "virtio-blk").
std::string render_io_table(const nlohmann::json& result, const IoCounts& counts,
                            std::string_view request_kind = "blkif");

// One job's verify line, `name` its name in the table: what it checked, or
// that it did not verify, or why it checked nothing (a line always). With
// no name, the run's "verify: off" line (no job verified).
std::string verify_line(const std::string& name, const nlohmann::json& job);

// "12.3k", "45.6 MiB/s", "38.2us" style formatting for the table.
std::string format_rate(double per_second);
std::string format_bandwidth(double bytes_per_second);
std::string format_latency(double ns);

}  // namespace pvsim::tools::cli
