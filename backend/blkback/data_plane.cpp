#include "backend/blkback/data_plane.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "backend/data_plane/pass_budget.hpp"

namespace pvsim::backend::blkback {
namespace {

using xen::BlkifStatus;

}  // namespace

DataPlane::DataPlane(RingConnection connection, const storage::BackingStore& store,
                     VbdLimits limits, DataPlaneOptions options,
                     std::shared_ptr<LiveCounters<VbdCounters>> metrics,
                     RingErrorHandler on_ring_error, std::string name)
    : connection_(std::move(connection)),
      limits_(limits),
      capacity_(limits.sectors),
      metrics_(metrics ? std::move(metrics) : std::make_shared<LiveCounters<VbdCounters>>()),
      on_ring_error_(std::move(on_ring_error)),
      on_flush_refused_(options.on_flush_refused),
      name_(std::move(name)),
      loop_(*this, store,
            data_plane::LoopOptions{.poll_max = options.poll_max,
                                    .contention = options.contention,
                                    .engine = options.engine,
                                    // One engine slot per ring slot: the
                                    // frontend cannot have more requests
                                    // outstanding than the ring holds, so
                                    // the engine never refuses one.
                                    .queue_depth = connection_.ring().size(),
                                    .late_eoi = true},
            data_plane::LoopCounters{
                .notifications_received =
                    [m = metrics_] { m->add(&VbdCounters::notifications_received); },
                .poll_hits = [m = metrics_] { m->add(&VbdCounters::poll_hits); },
                .sleeps = [m = metrics_] { m->add(&VbdCounters::sleeps); },
                .events_armed = [m = metrics_] { m->add(&VbdCounters::events_armed); },
                .spurious_events = [m = metrics_] { m->add(&VbdCounters::spurious_events); }},
            name_),
      pending_(connection_.ring().size(), limits_.max_segments()),
      access_(connection_.hypervisor(), connection_.frontend(), *metrics_, name_,
              SegmentAccess::Options{.grant_mode = options.grant_mode,
                                     .persistent = options.persistent,
                                     .max_persistent_grants = options.max_persistent_grants,
                                     .persistent_timeout = options.persistent_timeout}) {
    burst_.reserve(pending_.size());
    retired_.reserve(pending_.size());
    if (!options.journal_run_tag.empty()) {
        journal_.emplace(
            options.journal_run_tag,
            RequestJournal::Ring{connection_.frontend(), connection_.ring_ref(),
                                 connection_.remote_port(), connection_.ring().size()});
        if (journal_->inherited() != 0) {
            spdlog::info("{}: the last backend of this ring left {} request(s) in {}", name_,
                         journal_->inherited(), journal_->name());
        }
    }
    loop_.start();
}

DataPlane::~DataPlane() {
    stop();
}

void DataPlane::stop() {
    if (loop_.stop()) {
        access_.release_all();
    }
    // Everything taken has been answered and pushed: nothing to replay.
    journal_.reset();
}

data_plane::Arm DataPlane::arm_and_recheck() {
    // RING_FINAL_CHECK_FOR_REQUESTS: ask for an event at the next request,
    // then look once more, so one pushed meanwhile is not slept through.
    return connection_.ring().final_check_for_requests() ? data_plane::Arm::work_found
                                                         : data_plane::Arm::armed;
}

bool DataPlane::take_requests() {
    xen::BlkifBackRings& ring = connection_.ring();
    const xen::RingIdx rp = ring.req_prod();
    if (ring.request_prod_overflow(rp)) {
        // __do_block_io_op returns -EACCES and xen_blkif_schedule then only
        // waits to be stopped (Linux 4.3 to 6.x): the ring halts silently,
        // xenstore is left alone, the frontend keeps its state.
        halted_ = true;
        fail_ring("frontend provided bogus ring requests (" + std::to_string(rp) + " - " +
                  std::to_string(ring.rsp_prod_pvt()) + " = " +
                  std::to_string(static_cast<xen::RingIdx>(rp - ring.rsp_prod_pvt())) +
                  "); halting ring processing");
        return false;
    }
    access_.purge_persistent();
    // One load a pass, not a system call: the control plane re-reads the
    // target's size (XenbusBackend's periodic check).
    limits_.sectors = capacity_.load(std::memory_order_acquire);
    burst_.clear();
    bool took = false;
    data_plane::PassBudget budget;
    while (ring.req_cons() != rp && !barrier_waiting_ && !budget.spent()) {
        if (ring.request_cons_overflow(ring.req_cons()) || pending_.full() ||
            loop_.engine().full()) {
            break;
        }
        // A request the last backend of this ring took and may have
        // overwritten with a response comes from the journal; the rest from
        // the ring (RING_COPY_REQUEST; on a 32-bit ring the copy is then
        // translated, blkif_get_x86_32_req). The journal keeps the native
        // request, whatever the ring's layout.
        const xen::RingIdx slot = ring.req_cons();
        std::optional<xen::BlkifRequest> replayed;
        if (journal_) {
            replayed = journal_->replay(slot);
        }
        xen::BlkifRequest copy;
        if (replayed) {
            copy = *replayed;
            ring.set_req_cons(slot + 1);
            metrics_->add(&VbdCounters::replayed);
        } else {
            copy = ring.consume_request();
        }
        if (journal_) {
            journal_->record(slot, copy);
        }
        took = true;
        metrics_->add(&VbdCounters::requests);
        const RequestCheck check = check_request(copy, limits_);
        if (!check.ok()) {
            spdlog::debug("{}: request {} ({} {}): {}", name_, copy.id,
                          xen::name(check.request.operation),
                          static_cast<unsigned>(check.request.operation), check.reason);
            make_response(check.request.id, check.request.operation, check.status);
            continue;
        }
        const CheckedRequest& request = check.request;
        switch (request.kind) {
            case IoKind::read:
                metrics_->add(&VbdCounters::reads);
                break;
            case IoKind::write:
                metrics_->add(&VbdCounters::writes);
                break;
            case IoKind::flush:
                metrics_->add(&VbdCounters::flushes);
                break;
            case IoKind::barrier:
                metrics_->add(&VbdCounters::barriers);
                break;
            case IoKind::discard:
                metrics_->add(&VbdCounters::discards);
                break;
        }
        if (request.indirect) {
            metrics_->add(&VbdCounters::indirect_requests);
        }
        const std::uint32_t index = *pending_.take();
        PendingRequest& pending = pending_[index];
        pending.request = request;
        if (!request.indirect) {
            std::copy_n(request.seg.begin(), request.nr_segments, pending.segs.begin());
        }
        if (request.kind == IoKind::barrier && pending_.in_use() > 1) {
            // xen_blk_drain_io: the barrier waits for every earlier request
            // (those of this burst too), and nothing after it is taken
            // meanwhile.
            barrier_waiting_ = index;
            break;
        }
        burst_.push_back(index);
        budget.spend(request.bytes_at_most());
    }
    if (!burst_.empty()) {
        start_burst();
    }
    answer_retired();
    return took;
}

void DataPlane::answer_retired() {
    flush_retired();
    if (!barrier_ready()) {
        return;
    }
    burst_.assign(1, *barrier_waiting_);
    barrier_waiting_.reset();
    start_burst();
    flush_retired();
}

void DataPlane::completions_reaped() {
    answer_retired();
}

void DataPlane::start_burst() {
    read_indirect_segments();
    // The indirect requests whose segments are bad are answered already.
    std::erase_if(burst_, [this](std::uint32_t index) { return pending_[index].failed; });
    access_.map_segments(pending_, burst_);
    for (const std::uint32_t index : burst_) {
        PendingRequest& pending = pending_[index];
        if (pending.failed) {
            retire(index, BlkifStatus::error);
            continue;
        }
        if (pending.request.kind == IoKind::discard && pending.request.nr_sectors == 0) {
            retire(index, BlkifStatus::okay);
            continue;
        }
        if (!submit(index)) {
            // Cannot happen with one engine slot per ring slot; answer rather
            // than lose the request if it ever does.
            spdlog::error("{}: request {}: the I/O engine refused it", name_, pending.request.id);
            retire(index, BlkifStatus::error);
        }
    }
    loop_.engine().flush_submissions();
}

void DataPlane::read_indirect_segments() {
    bool any = false;
    for (const std::uint32_t index : burst_) {
        any = any || pending_[index].request.indirect;
    }
    if (!any) {
        return;
    }
    access_.map_indirect_pages(pending_, burst_);
    for (const std::uint32_t index : burst_) {
        PendingRequest& pending = pending_[index];
        CheckedRequest& request = pending.request;
        if (!request.indirect) {
            continue;
        }
        access_.read_indirect_segments(pending);
        if (pending.failed) {
            spdlog::debug("{}: request {}: its indirect pages could not be read", name_,
                          request.id);
            retire(index, BlkifStatus::error);
            continue;
        }
        std::string_view reason;
        const BlkifStatus status = check_segments(
            request, std::span(pending.segs.data(), request.nr_segments), limits_, reason);
        if (status != BlkifStatus::okay) {
            spdlog::debug("{}: indirect request {}: {}", name_, request.id, reason);
            pending.failed = true;
            retire(index, status);
        }
    }
    // Those retired above are taken out of the burst by the caller; their
    // failed flag stays set until the slot is taken again.
}

bool DataPlane::submit(std::uint32_t index) {
    PendingRequest& pending = pending_[index];
    const CheckedRequest& request = pending.request;
    const std::span<const iovec> iov(pending.iov.data(), request.nr_segments);
    const std::uint64_t offset = request.sector_number * xen::kBlkifSectorSize;
    storage::IoEngine& engine = loop_.engine();
    switch (request.kind) {
        case IoKind::read:
            return engine.submit_read(index, offset, iov);
        case IoKind::write:
            return engine.submit_write(index, offset, iov);
        case IoKind::flush:
        case IoKind::barrier:
            if (pending.stage == PendingRequest::Stage::io && request.nr_segments != 0) {
                return engine.submit_write(index, offset, iov);
            }
            return engine.submit_flush(index);
        case IoKind::discard:
            return engine.submit_discard(index, offset, request.bytes());
    }
    return false;
}

data_plane::IoExpectation DataPlane::expect(std::uint32_t index) noexcept {
    const PendingRequest& pending = pending_[index];
    const CheckedRequest& request = pending.request;
    const bool data_stage = pending.stage == PendingRequest::Stage::io && request.has_data();
    // A device may refuse a discard, and a flush or barrier
    // (__end_block_io_op's BLK_STS_NOTSUPP): each answered EOPNOTSUPP.
    return {.bytes = data_stage ? static_cast<std::int64_t>(request.bytes()) : 0,
            .may_be_unsupported = request.kind == IoKind::discard ||
                                  request.kind == IoKind::flush || request.kind == IoKind::barrier};
}

bool DataPlane::stage_done(std::uint32_t index) {
    PendingRequest& pending = pending_[index];
    const CheckedRequest& request = pending.request;
    if (pending.stage != PendingRequest::Stage::io || !request.has_data()) {
        return false;
    }
    metrics_->add(
        request.kind == IoKind::read ? &VbdCounters::bytes_read : &VbdCounters::bytes_written,
        request.bytes());
    if (request.kind == IoKind::flush || request.kind == IoKind::barrier) {
        // The data is written; now the flush. The grants can go already.
        release_grants(index);
        pending.stage = PendingRequest::Stage::flush;
        return true;
    }
    return false;
}

void DataPlane::complete(std::uint32_t index, data_plane::IoOutcome outcome) {
    switch (outcome) {
        case data_plane::IoOutcome::ok:
            retire(index, BlkifStatus::okay);
            return;
        case data_plane::IoOutcome::unsupported: {
            const IoKind kind = pending_[index].request.kind;
            if ((kind == IoKind::flush || kind == IoKind::barrier) && on_flush_refused_) {
                // __end_block_io_op: "flush diskcache op failed, not
                // supported" / "write barrier op failed, not supported".
                try {
                    on_flush_refused_(kind);
                } catch (const std::exception& e) {
                    spdlog::error("{}: reporting the refused {}: {}", name_,
                                  kind == IoKind::flush ? "flush" : "barrier", e.what());
                }
            }
            retire(index, BlkifStatus::eopnotsupp);
            return;
        }
        case data_plane::IoOutcome::error:
            retire(index, BlkifStatus::error);
            return;
    }
}

std::string DataPlane::describe(std::uint32_t index) {
    const CheckedRequest& request = pending_[index].request;
    return "request " + std::to_string(request.id) + " (" +
           std::string(xen::name(request.operation)) + ")";
}

void DataPlane::release_grants(std::uint32_t index) {
    access_.release_segments(pending_[index], false, 0);
}

void DataPlane::retire(std::uint32_t index, BlkifStatus status) {
    retired_.push_back({index, status});
    access_.release_segments(pending_[index], status == BlkifStatus::okay, retired_.size() - 1);
}

void DataPlane::flush_retired() {
    // The data read goes to the guest before the response says it is there
    // (copy mode), in one batch.
    for (const std::size_t response : access_.copy_reads_to_guest()) {
        retired_[response].status = BlkifStatus::error;
    }
    // Unmap before answering (Linux: xen_blkbk_unmap before make_response),
    // so the frontend can end its grants' access as soon as it sees the
    // response.
    if (access_.unmap_pending()) {
        access_.unmap();
    }
    for (const Retired& done : retired_) {
        const CheckedRequest& request = pending_[done.index].request;
        make_response(request.id, request.operation, done.status);
        pending_.release(done.index);
    }
    retired_.clear();
}

// make_response: the response is written in the layout of the ring
// (blkback.c switches on blkif->blk_protocol for RING_GET_RESPONSE).
void DataPlane::make_response(std::uint64_t id, xen::BlkifOp operation, BlkifStatus status) {
    xen::BlkifResponse response{};
    response.id = id;
    response.operation = operation;
    response.status = status;
    connection_.ring().produce_response(response);
    responses_unpushed_ = true;
    metrics_->add(&VbdCounters::responses);
    if (status == BlkifStatus::error) {
        metrics_->add(&VbdCounters::errors);
    } else if (status == BlkifStatus::eopnotsupp) {
        metrics_->add(&VbdCounters::unsupported);
    }
}

void DataPlane::publish() {
    if (!std::exchange(responses_unpushed_, false)) {
        return;
    }
    if (connection_.ring().push_responses_and_check_notify()) {
        connection_.event_channel().notify();
        metrics_->add(&VbdCounters::notifications_sent);
    } else {
        metrics_->add(&VbdCounters::notifications_suppressed);
    }
}

void DataPlane::on_failure(const std::string& reason) {
    if (halted_) {
        spdlog::warn("{}: {}", name_, reason);
        return;
    }
    spdlog::error("{}: {}", name_, reason);
    if (on_ring_error_) {
        try {
            on_ring_error_(reason);
        } catch (const std::exception& e) {
            spdlog::error("{}: reporting the ring error: {}", name_, e.what());
        }
    }
}

void DataPlane::release_after_failure() {
    if (barrier_waiting_) {
        release_grants(*barrier_waiting_);
        barrier_waiting_.reset();
    }
    access_.unmap();
}

}  // namespace pvsim::backend::blkback
