// One blkif ring as blkfront drives it (Linux xen-blkfront.c: struct
// blkfront_ring_info, with blkif_queue_request, blkif_interrupt's response
// loop, blkif_completion and blkif_free), the transport of a BlkfrontQueue
// (request_engine.hpp says what a transport does; the engine owns the
// queueing, the completion thread and the failure rules).
//
// A part is one blkif request (request_builder.hpp): its pages are granted
// to the backend (segment_grants.hpp), it is tracked in the shadow table
// (shadow.hpp) and written to the ring; publish() is
// RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, arm() RING_FINAL_CHECK_FOR_RESPONSES.
// Each response is checked (response_check.hpp) before it is trusted; the
// grants of the request it answers end. Without persistent grants a grant
// the backend still maps then is a broken backend (Linux 6.1
// blkif_completion, XSA-396: "backend has not unmapped grant"): the ring
// fails like for a bad response, and the grant is deferred
// (gnttab_try_end_foreign_access) and retried, its request finished only
// once it ends, so a page the backend can still write is never handed back.
//
// Features, as the control plane negotiated them (config.disk):
//  - indirect descriptors (max_indirect_segments > 11): a read or write of
//    up to that many segments is one BLKIF_OP_INDIRECT request;
//  - persistent grants (feature_persistent): data is copied through a pool
//    of pages whose grants are kept from one request to the next
//    (grant_pool.hpp); every purge_interval (Linux's blkfront_delay_work,
//    HZ * 10) the completion thread ends those the backend has stopped
//    mapping (purge_persistent_grants), under the ring lock it already
//    holds for completions, so submitters and the purge never race;
//  - bounce (info->bounce: persistent grants, or trusted=0 in our own
//    directory, XSA-403): data is copied through the pool's pages, never
//    granting a page of the caller's; without persistent grants each pool
//    grant ends when its request is answered;
//  - discard (feature_discard): BLKIF_OP_DISCARD; one answered
//    BLKIF_RSP_EOPNOTSUPP fails with -EOPNOTSUPP and turns discard off
//    (blkif_interrupt, Linux 4.x to 6.x: feature_discard = 0);
//  - flush: BLKIF_OP_FLUSH_DISKCACHE or BLKIF_OP_WRITE_BARRIER as
//    offered; without either a flush completes at once (the backend writes
//    through). A flush answered BLKIF_RSP_EOPNOTSUPP, or BLKIF_RSP_ERROR
//    with no segment, completes as success and turns flushes off
//    (blkif_interrupt: BLK_STS_NOTSUPP -> BLK_STS_OK, feature_flush = 0).
// Linux keeps these per device; pvsim per ring, so each queue learns it
// from its own first refusal.
//
// Not thread-safe: the queue calls it under its lock.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/counter_set.hpp"
#include "common/os/cpu_contention.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/blkif_rings.hpp"
#include "frontend/blkfront/disk_info.hpp"
#include "frontend/blkfront/grant_pool.hpp"
#include "frontend/blkfront/request_builder.hpp"
#include "frontend/blkfront/segment_grants.hpp"
#include "frontend/blkfront/shadow.hpp"
#include "frontend/pending_io.hpp"
#include "frontend/request_engine.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

// Per-queue counters (DESIGN.md §10: the per-request counts the design
// controls).
struct BlkfrontCounters {
    std::uint64_t requests = 0;   // blkif requests put on the ring
    std::uint64_t segments = 0;   // their segments (= grants made)
    std::uint64_t bytes = 0;      // data they move
    std::uint64_t responses = 0;  // responses taken off the ring
    // Events sent to the backend, and pushes after which the backend's
    // req_event said it needed none (it was awake or polling).
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_suppressed = 0;
    // Events taken from the backend (coalesced sends count once).
    std::uint64_t notifications_received = 0;
    // Grants the backend still had mapped when their request was answered.
    std::uint64_t grants_deferred = 0;
    // BLKIF_OP_INDIRECT requests among `requests`.
    std::uint64_t indirect_requests = 0;
    // Segments copied through the grant pool (into it for writes, out of it
    // for reads): with persistent grants or bounce.
    std::uint64_t data_copies = 0;
    // Persistent grants ended by the periodic purge (the backend had
    // stopped mapping them).
    std::uint64_t persistent_purged = 0;
    // Times the periodic purge ran (blkfront_delay_work), ending grants or
    // not: what says that purge turns have passed.
    std::uint64_t purge_passes = 0;
    // BLKIF_OP_DISCARD requests, and flushes sent (flush-cache or barrier).
    std::uint64_t discards = 0;
    std::uint64_t flushes = 0;
    // Requests taken back from a ring and issued again after a reconnect
    // (blkif_recover). Not those a submit queued in a ring as it was held,
    // which had never been issued.
    std::uint64_t recovered = 0;
    // Gauges, not counts: grants the grant pools hold now, the pools' pages
    // (granted or not), the queues (rings) and the pages of each ring.
    std::uint64_t persistent_grants = 0;
    std::uint64_t pool_pages = 0;
    std::uint64_t queues = 1;
    std::uint64_t ring_pages = 1;

    static constexpr auto kFields = std::to_array<CounterField<BlkfrontCounters>>({
        {"requests", &BlkfrontCounters::requests},
        {"segments", &BlkfrontCounters::segments},
        {"bytes", &BlkfrontCounters::bytes},
        {"responses", &BlkfrontCounters::responses},
        {"notifications_sent", &BlkfrontCounters::notifications_sent},
        {"notifications_suppressed", &BlkfrontCounters::notifications_suppressed},
        {"notifications_received", &BlkfrontCounters::notifications_received},
        {"grants_deferred", &BlkfrontCounters::grants_deferred},
        {"indirect_requests", &BlkfrontCounters::indirect_requests},
        {"data_copies", &BlkfrontCounters::data_copies},
        {"persistent_purged", &BlkfrontCounters::persistent_purged},
        {"purge_passes", &BlkfrontCounters::purge_passes},
        {"discards", &BlkfrontCounters::discards},
        {"flushes", &BlkfrontCounters::flushes},
        {"recovered", &BlkfrontCounters::recovered},
        {"persistent_grants", &BlkfrontCounters::persistent_grants, CounterKind::gauge},
        {"pool_pages", &BlkfrontCounters::pool_pages, CounterKind::gauge},
        {"queues", &BlkfrontCounters::queues, CounterKind::gauge},
        {"ring_pages", &BlkfrontCounters::ring_pages, CounterKind::gauge},
    });
};

// blkfront_delay_work's period (Linux 4.19+: schedule_delayed_work(...,
// HZ * 10)).
inline constexpr std::chrono::milliseconds kPersistentPurgeInterval{10000};

struct DataPlaneConfig {
    std::string name;  // the device in logs and errors, e.g. "device/vbd/51712"
    xen::DomId backend_id = 0;
    xen::BlkifVdev handle = 0;  // blkif_request.handle: the virtual device number
    DiskInfo disk;
    std::chrono::microseconds poll{50};  // "poll-us": the polling window's maximum, 0 = off
    // Where the completion thread learns that more threads are runnable than
    // CPUs, when it does not poll (QueueOptions::contention).
    os::CpuContention::Options contention;
    // The ring's layout, our guest's ("protocol"): the native one, or that of
    // a 32-bit x86 guest (common/xen/blkif_x86_32.hpp).
    xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64;
    // "trusted" in our own directory (talk_to_blkback, Linux 5.19+): false
    // bounces every request's data through the grant pool.
    bool trusted = true;
    // How often persistent grants the backend let go are ended
    // (blkfront_delay_work: HZ * 10); shorter in tests.
    std::chrono::milliseconds purge_interval = kPersistentPurgeInterval;
};

class BlkfrontRing {
  public:
    using Plan = BlkifRequestPlan;
    using Counters = BlkfrontCounters;

    // `ring_area` is the ring page(s), initialised and granted, which must
    // outlive the ring's use; `channel` is bound by the backend.
    BlkfrontRing(hypervisor::Hypervisor& hypervisor, void* ring_area, std::size_t ring_bytes,
                 hypervisor::EventChannel channel, const DataPlaneConfig& config);
    ~BlkfrontRing();
    BlkfrontRing(const BlkfrontRing&) = delete;
    BlkfrontRing& operator=(const BlkfrontRing&) = delete;

    // The transport (request_engine.hpp).
    std::vector<Plan> plan(const BlockRequest& request) const;
    bool supports_discard() const noexcept { return discard_; }
    bool flush_reaches_device() const noexcept { return flush_operation_.has_value(); }
    // Linux's feature_fua: "feature-barrier" without "feature-flush-cache"
    // (blkfront_gather_backend_features), off once a barrier is refused.
    bool supports_fua() const noexcept { return flush_operation_ == xen::BlkifOp::write_barrier; }
    std::uint32_t sector_size() const noexcept { return config_.disk.sector_size; }
    bool read_only() const noexcept { return config_.disk.read_only(); }
    bool has_room() const noexcept { return !ring_.full() && !shadow_.full(); }
    bool put(Plan& plan, const std::shared_ptr<PendingIo>& io, FinishedIo& finished);
    Publish publish();
    void notify();
    std::optional<std::string> take_completions(FinishedIo& finished, bool& worked);
    bool completions_pending() const noexcept { return ring_.unconsumed_responses() != 0; }
    bool arm();
    void disarm() noexcept {}
    int notify_fd() const;
    bool take_notification();
    int hangup_fd() const noexcept { return -1; }
    std::string hangup_reason() const { return {}; }
    std::size_t on_ring() const noexcept { return shadow_.in_use(); }
    // Deferred grants, and the persistent grant purge when due.
    std::optional<std::chrono::milliseconds> retry_interval() const;
    bool retry(FinishedIo& finished);
    void fail_all(FinishedIo& finished, int status);
    template <class Take>
    void take_back(Take&& take, FinishedIo& finished) {
        for (std::uint64_t id : shadow_.pending_ids()) {
            ShadowEntry entry = shadow_.release(id);
            release_entry(entry, nullptr);
            take(entry.io);
        }
        drop_deferred(finished);
    }
    void close();
    Counters counters() const;
    LiveCounters<Counters>& live_counters() noexcept { return counters_; }

    const DataPlaneConfig& config() const noexcept { return config_; }

  private:
    struct DeferredGrant {  // answered, but the backend still maps it
        xen::GrantRef ref;
        std::shared_ptr<PendingIo> io;
        std::optional<hypervisor::Gfn> page;  // our own page to free once it ends
    };

    // Gives an answered (or never issued) entry's persistent grants back to
    // the pool and ends its other grants, deferring those still mapped
    // (counted as outstanding parts of `io` when there is one).
    // Returns the first grant the backend still mapped, if any.
    std::optional<xen::GrantRef> release_entry(ShadowEntry& entry,
                                               const std::shared_ptr<PendingIo>& io);
    std::optional<xen::GrantRef> end_grants(const GrantRefs& grants,
                                            const std::shared_ptr<PendingIo>& io,
                                            std::optional<hypervisor::Gfn> page = std::nullopt);
    // Ends (or parks) every deferred grant: the request it belongs to had
    // its response.
    void drop_deferred(FinishedIo& finished);
    // blkfront_delay_work's turn for this ring, if due.
    void purge_if_due();

    hypervisor::Hypervisor& hypervisor_;
    const DataPlaneConfig config_;
    xen::BlkifFrontRings ring_;
    hypervisor::EventChannel channel_;
    ShadowTable shadow_;
    std::optional<xen::BlkifOp> flush_operation_;
    bool discard_;                 // feature_discard, until the backend refuses one
    const unsigned max_segments_;  // per request: 11, or the negotiated indirect count
    GrantPool pool_;               // rinfo->grants
    const bool bounce_;            // info->bounce: data goes through pool_
    std::chrono::steady_clock::time_point next_purge_;
    xen::RingIdx published_ = 0;  // req_prod as last pushed
    std::vector<DeferredGrant> deferred_;

    LiveCounters<BlkfrontCounters> counters_;
};

}  // namespace pvsim::frontend::blkfront
