#include "frontend/blkfront/blkfront_ring.hpp"

#include <algorithm>
#include <cerrno>
#include <new>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

#include "frontend/blkfront/response_check.hpp"

namespace pvsim::frontend::blkfront {
namespace {

// How often grants the backend still maps are looked at again while nothing
// else wakes the completion thread (Linux retries its deferred list on a
// timer too).
constexpr std::chrono::milliseconds kDeferredRetry{10};

unsigned segments_per_request(const DiskInfo& disk) noexcept {
    // blkfront_gather_backend_features: indirect only when it allows more
    // than a direct request carries.
    if (disk.max_indirect_segments <= xen::kBlkifMaxSegmentsPerRequest) {
        return xen::kBlkifMaxSegmentsPerRequest;
    }
    return std::min<unsigned>(disk.max_indirect_segments, xen::kBlkifMaxIndirectSegments);
}

// FRONT_RING_INIT over the initialised pages, with the slots of our
// guest's layout (the shared header is the same in both).
xen::BlkifFrontRings make_ring(xen::BlkifProtocol protocol, void* area, std::size_t bytes) {
    if (protocol == xen::BlkifProtocol::x86_32) {
        return xen::BlkifX86_32FrontRing(area, bytes, 0);
    }
    return xen::BlkifFrontRing(area, bytes, 0);
}

}  // namespace

BlkfrontRing::BlkfrontRing(hypervisor::Hypervisor& hypervisor, void* ring_area,
                           std::size_t ring_bytes, hypervisor::EventChannel channel,
                           const DataPlaneConfig& config)
    : hypervisor_(hypervisor),
      config_(config),
      ring_(make_ring(config.protocol, ring_area, ring_bytes)),
      channel_(std::move(channel)),
      shadow_(ring_.size()),
      flush_operation_(config_.disk.flush_operation()),
      discard_(config_.disk.feature_discard),
      max_segments_(segments_per_request(config_.disk)),
      pool_(hypervisor, config_.backend_id, config_.name, config_.disk.feature_persistent),
      // talk_to_blkback: bounce = !trusted; blkfront_gather_backend_features:
      // persistent grants bounce too.
      bounce_(!config_.trusted || config_.disk.feature_persistent),
      next_purge_(std::chrono::steady_clock::now() + config_.purge_interval) {
    if (!channel_) {
        throw std::invalid_argument("blkfront " + config_.name + ": no event channel");
    }
}

BlkfrontRing::~BlkfrontRing() {
    // Grants a failed ring kept for a backend that never let go of them:
    // parked in the grant table with our pages (ended, and the pages freed,
    // on its timer once the backend unmaps them), and their requests never
    // finished, as Linux's are not.
    for (const DeferredGrant& deferred : deferred_) {
        try {
            end_or_park_grant(hypervisor_, deferred.ref, deferred.page);
        } catch (const std::exception& e) {
            spdlog::warn("blkfront {}: ending grant {}: {}", config_.name, deferred.ref, e.what());
        }
    }
    pool_.free_all();
}

BlkfrontCounters BlkfrontRing::counters() const {
    BlkfrontCounters c = counters_.snapshot();
    c.persistent_grants = pool_.granted();
    c.pool_pages = pool_.pages();
    c.queues = 1;
    const std::size_t entry = ring_.protocol() == xen::BlkifProtocol::x86_32
                                  ? sizeof(xen::BlkifX86_32SringEntry)
                                  : sizeof(xen::BlkifSringEntry);
    c.ring_pages = (ring_.size() * entry + xen::kXenPageSize - 1) / xen::kXenPageSize;
    return c;
}

// ---------------------------------------------------------------------------
// Submission

std::vector<BlkifRequestPlan> BlkfrontRing::plan(const BlockRequest& request) const {
    if (request.fua) {
        // blkif_queue_rw_req (Linux 6.1): a FUA write to a backend with
        // barriers and no flush-cache goes as BLKIF_OP_WRITE_BARRIER with
        // its data ("a barrier request a superset of FUA"). A barrier is
        // never indirect (blkif.h: indirect_op is a read or a write; Linux
        // BUG_ONs a FUA request there), so it is split at 11 segments.
        std::vector<BlkifRequestPlan> plans = plan_requests(
            request.operation, request.sector, request.buffer, xen::BlkifOp::write_barrier,
            xen::kBlkifMaxSegmentsPerRequest, 0, config_.disk.discard_granularity);
        for (BlkifRequestPlan& part : plans) {
            part.operation = xen::BlkifOp::write_barrier;
        }
        return plans;
    }
    return plan_requests(request.operation, request.sector, request.buffer,
                         flush_operation_.value_or(xen::BlkifOp::flush_diskcache), max_segments_,
                         request.discard_sectors, config_.disk.discard_granularity);
}

bool BlkfrontRing::put(Plan& plan, const std::shared_ptr<PendingIo>& io, FinishedIo& finished) {
    if (!has_room()) {
        return false;
    }
    ShadowEntry entry;
    std::uint64_t copies = 0;
    try {
        copies = grant_request(hypervisor_, config_.backend_id, config_.handle, plan,
                               bounce_ ? &pool_ : nullptr, entry);
    } catch (const std::bad_alloc&) {
        // Nothing of it reached the backend: every grant ends at once.
        release_entry(entry, nullptr);
        spdlog::warn("blkfront {}: grant table or memory full; request fails with ENOMEM",
                     config_.name);
        finished.part_done(io, -ENOMEM);
        return true;
    }
    entry.io = io;
    const std::uint64_t id = *shadow_.take();
    entry.request.id = id;  // at the same offset in every layout
    ShadowEntry& slot = shadow_.at(id);
    slot = std::move(entry);
    ring_.produce_request(slot.request);
    counters_.add(&BlkfrontCounters::requests);
    counters_.add(&BlkfrontCounters::segments, plan.segments.size());
    counters_.add(&BlkfrontCounters::data_copies, copies);
    if (plan.operation != xen::BlkifOp::discard) {
        counters_.add(&BlkfrontCounters::bytes, plan.bytes());
    }
    if (plan.indirect()) {
        counters_.add(&BlkfrontCounters::indirect_requests);
    }
    if (plan.operation == xen::BlkifOp::discard) {
        counters_.add(&BlkfrontCounters::discards);
    } else if (plan.operation == xen::BlkifOp::flush_diskcache ||
               plan.operation == xen::BlkifOp::write_barrier) {
        counters_.add(&BlkfrontCounters::flushes);
    }
    return true;
}

Publish BlkfrontRing::publish() {
    if (ring_.req_prod_pvt() == published_) {
        return Publish::nothing;
    }
    published_ = ring_.req_prod_pvt();
    return ring_.push_requests_and_check_notify() ? Publish::notify : Publish::suppressed;
}

void BlkfrontRing::notify() {
    channel_.notify();
}

std::optional<xen::GrantRef> BlkfrontRing::release_entry(ShadowEntry& entry,
                                                         const std::shared_ptr<PendingIo>& io) {
    std::optional<xen::GrantRef> still_mapped = pool_.give_back(entry.pooled);
    if (io) {
        const auto first = [&still_mapped](std::optional<xen::GrantRef> ref) {
            if (!still_mapped) {
                still_mapped = ref;
            }
        };
        first(end_grants(entry.grants, io));
        for (const IndirectFrame& frame : entry.indirect_frames) {
            first(end_grants({frame.ref}, io, frame.gfn));
        }
    } else {
        for (xen::GrantRef ref : entry.grants) {
            end_or_park_grant(hypervisor_, ref, std::nullopt);
        }
        for (const IndirectFrame& frame : entry.indirect_frames) {
            end_or_park_grant(hypervisor_, frame.ref, frame.gfn);
        }
    }
    entry.grants.clear();
    entry.indirect_frames.clear();
    return still_mapped;
}

// ---------------------------------------------------------------------------
// Completion

std::optional<xen::GrantRef> BlkfrontRing::end_grants(const GrantRefs& grants,
                                                      const std::shared_ptr<PendingIo>& io,
                                                      std::optional<hypervisor::Gfn> page) {
    std::optional<xen::GrantRef> still_mapped;
    for (xen::GrantRef ref : grants) {
        if (hypervisor_.grant_table().try_end_access(ref)) {
            if (page) {
                hypervisor_.memory().free_page(*page);
            }
        } else {
            // Without persistent grants the backend unmaps before it
            // answers; one that did not gets its page kept from reuse: the
            // request is not finished while the grant lasts.
            deferred_.push_back(DeferredGrant{ref, io, page});
            ++io->outstanding;
            counters_.add(&BlkfrontCounters::grants_deferred);
            if (!still_mapped) {
                still_mapped = ref;
            }
        }
    }
    return still_mapped;
}

std::optional<std::string> BlkfrontRing::take_completions(FinishedIo& finished, bool& worked) {
    const xen::RingIdx rsp_prod = ring_.rsp_prod();
    if (auto why = check_response_prod(ring_, rsp_prod)) {
        return why;
    }
    while (ring_.rsp_cons() != rsp_prod) {
        const xen::BlkifResponse response = ring_.consume_response();
        if (auto why = check_response(response, shadow_)) {
            return why;
        }
        ShadowEntry entry = shadow_.release(response.id);
        counters_.add(&BlkfrontCounters::responses);
        worked = true;
        int status = response_errno(response.status);
        const xen::BlkifOp op = entry.request.operation;
        const bool flush = op == xen::BlkifOp::flush_diskcache || op == xen::BlkifOp::write_barrier;
        if (flush && (status == -EOPNOTSUPP || (response.status == xen::BlkifStatus::error &&
                                                entry.request.nr_segments == 0))) {
            // blkif_interrupt: the backend turned the feature down after
            // all ("op failed", or "empty op failed"); the request completes
            // as success (BLK_STS_NOTSUPP -> BLK_STS_OK) and flushes from now
            // on complete at once.
            spdlog::warn("blkfront {}: {} op failed: not supported by the backend", config_.name,
                         xen::name(op));
            flush_operation_.reset();
            status = 0;
        } else if (op == xen::BlkifOp::discard && status == -EOPNOTSUPP) {
            // blkif_interrupt: the request fails (BLK_STS_NOTSUPP) and
            // discard is turned off.
            spdlog::warn("blkfront {}: {} op failed: not supported by the backend", config_.name,
                         xen::name(op));
            discard_ = false;
        } else if (response.status != xen::BlkifStatus::okay &&
                   response.status != xen::BlkifStatus::error &&
                   response.status != xen::BlkifStatus::eopnotsupp) {
            // blkif_interrupt: any status but BLKIF_RSP_OKAY is
            // BLK_STS_IOERR ("Bad return from blkdev data request", a
            // dev_dbg there); a value blkif.h does not define is the
            // backend's fault, said here where an operator sees it.
            spdlog::warn(
                "blkfront {}: backend dom{} answered {} at sector {} with status {}, "
                "which blkif.h does not define; the request fails with EIO",
                config_.name, config_.backend_id, xen::name(op), entry.request.sector_number,
                static_cast<int>(response.status));
        } else if (status != 0) {
            spdlog::debug("blkfront {}: {} at sector {} answered {} ({})", config_.name,
                          xen::name(op), entry.request.sector_number, xen::name(response.status),
                          static_cast<int>(response.status));
        }
        if (status == 0 && !entry.segments.empty()) {
            // A read through the pool: its data is copied out.
            counters_.add(&BlkfrontCounters::data_copies,
                          copy_read_out(hypervisor_.memory(), entry));
        }
        if (const auto still_mapped = release_entry(entry, entry.io)) {
            // blkif_completion (Linux 5.17+, XSA-396): without persistent
            // grants the backend unmaps a request's grants before it
            // answers; one it still maps is "backend has not unmapped
            // grant", and blkif_interrupt's "err:" disables the device. The
            // request is not finished while the backend can still write its
            // pages (its grants are deferred, and ended by retry() once it
            // lets go); then it fails with the rest.
            finished.part_done(entry.io, -ENODEV);
            return "backend has not unmapped grant " + std::to_string(*still_mapped);
        }
        finished.part_done(entry.io, status);
    }
    return std::nullopt;
}

bool BlkfrontRing::arm() {
    return ring_.final_check_for_responses();
}

int BlkfrontRing::notify_fd() const {
    return channel_ ? channel_.fd() : -1;
}

bool BlkfrontRing::take_notification() {
    return channel_ && channel_.poll();
}

std::optional<std::chrono::milliseconds> BlkfrontRing::retry_interval() const {
    std::optional<std::chrono::milliseconds> interval;
    if (!deferred_.empty()) {
        interval = kDeferredRetry;
    }
    // purge_persistent_grants skips a ring that holds no persistent grant;
    // so does the wait for it.
    if (pool_.persistent() && pool_.granted() != 0) {
        const auto until = std::chrono::ceil<std::chrono::milliseconds>(
            next_purge_ - std::chrono::steady_clock::now());
        const std::chrono::milliseconds purge = std::max(until, std::chrono::milliseconds(0));
        interval = interval ? std::min(*interval, purge) : purge;
    }
    return interval;
}

void BlkfrontRing::purge_if_due() {
    if (!pool_.persistent()) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now < next_purge_) {
        return;
    }
    next_purge_ = now + config_.purge_interval;
    counters_.add(&BlkfrontCounters::purge_passes);
    if (const std::size_t ended = pool_.purge(); ended != 0) {
        counters_.add(&BlkfrontCounters::persistent_purged, ended);
        spdlog::debug("blkfront {}: ended {} persistent grant(s) the backend let go", config_.name,
                      ended);
    }
}

bool BlkfrontRing::retry(FinishedIo& finished) {
    purge_if_due();
    bool progressed = false;
    for (auto it = deferred_.begin(); it != deferred_.end();) {
        if (hypervisor_.grant_table().try_end_access(it->ref)) {
            if (it->page) {
                hypervisor_.memory().free_page(*it->page);
            }
            finished.part_done(it->io, 0);
            it = deferred_.erase(it);
            progressed = true;
        } else {
            ++it;
        }
    }
    return progressed;
}

void BlkfrontRing::drop_deferred(FinishedIo& finished) {
    for (DeferredGrant& deferred : deferred_) {
        end_or_park_grant(hypervisor_, deferred.ref, deferred.page);
        finished.part_done(deferred.io, 0);  // its response came; only the grant lingers
    }
    deferred_.clear();
    pool_.free_all();
}

void BlkfrontRing::fail_all(FinishedIo& finished, int status) {
    for (std::uint64_t id : shadow_.pending_ids()) {
        ShadowEntry entry = shadow_.release(id);
        release_entry(entry, nullptr);
        finished.part_done(entry.io, status);
    }
    // A request answered with a grant still mapped stays unfinished until
    // the backend lets go (retry() ends the grant, then finishes it): its
    // caller must not have pages back that the backend can still write.
    pool_.free_all();
}

void BlkfrontRing::close() {
    if (!channel_) {
        return;
    }
    try {
        channel_.close();
    } catch (const std::exception& e) {
        spdlog::warn("blkfront {}: closing the event channel: {}", config_.name, e.what());
    }
}

}  // namespace pvsim::frontend::blkfront
