#include "backend/blkback/data_plane.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::backend::blkback {
namespace {

using Clock = std::chrono::steady_clock;
using xen::BlkifStatus;

}  // namespace

DataPlane::DataPlane(RingConnection connection, const storage::BackingStore& store,
                     VbdLimits limits, DataPlaneOptions options,
                     std::shared_ptr<VbdMetrics> metrics, RingErrorHandler on_ring_error,
                     std::string name)
    : connection_(std::move(connection)),
      limits_(limits),
      metrics_(metrics ? std::move(metrics) : std::make_shared<VbdMetrics>()),
      on_ring_error_(std::move(on_ring_error)),
      name_(std::move(name)),
      poll_(options.poll_max),
      pending_(connection_.ring().size(), limits_.max_segments()),
      access_(connection_.hypervisor(), connection_.frontend(), *metrics_, name_,
              SegmentAccess::Options{.grant_mode = options.grant_mode,
                                     .persistent = options.persistent,
                                     .max_persistent_grants = options.max_persistent_grants,
                                     .persistent_timeout = options.persistent_timeout}) {
    // One engine slot per ring slot: the frontend cannot have more requests
    // outstanding than the ring holds, so the engine never refuses one.
    storage::EngineOptions engine_options;
    engine_options.kind = options.engine;
    engine_options.queue_depth = pending_.size();
    engine_ = storage::make_engine(store.io_target(), engine_options);
    burst_.reserve(pending_.size());
    retired_.reserve(pending_.size());
    thread_ = std::thread([this] { run(); });
}

DataPlane::~DataPlane() {
    stop();
}

void DataPlane::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stop_requested_.store(true, std::memory_order_release);
    stop_event_.signal();
    thread_.join();
    access_.release_all();
}

void DataPlane::run() noexcept {
    try {
        loop();
        return;
    } catch (const std::exception& e) {
        fail_ring(std::string("the ring loop failed: ") + e.what());
    } catch (...) {
        fail_ring("the ring loop failed");
    }
    drain_after_failure();
}

void DataPlane::loop() {
    // bind_interdomain left our port pending ("we may have lost
    // notifications"); the first pass below looks at the ring anyway.
    (void)connection_.event_channel().poll();
    for (;;) {
        bool worked = reap_completions();
        worked = dispatch_waiting_barrier() || worked;
        if (serving()) {
            worked = take_requests() || worked;
        }
        push_responses();
        if (stop_requested_.load(std::memory_order_acquire) && engine_->in_flight() == 0 &&
            !barrier_waiting_) {
            return;
        }
        if (worked) {
            continue;
        }
        if (poll_for_work()) {
            continue;
        }
        sleep();
    }
}

bool DataPlane::has_work() noexcept {
    if (engine_->has_completions() || stop_requested_.load(std::memory_order_relaxed) ||
        barrier_ready()) {
        return true;
    }
    return serving() && connection_.ring().unconsumed_requests() != 0;
}

bool DataPlane::poll_for_work() {
    poll_start_ = Clock::now();
    if (!poll_.enabled() || poll_.window() == AdaptivePoll::Duration::zero()) {
        return false;
    }
    const Clock::time_point deadline = poll_start_ + poll_.window();
    for (;;) {
        if (has_work()) {
            poll_.record(Clock::now() - poll_start_);
            VbdMetrics::add(metrics_->poll_hits);
            return true;
        }
        if (Clock::now() >= deadline) {
            return false;
        }
        cpu_relax();
    }
}

void DataPlane::sleep() {
    const bool armed = serving();
    // RING_FINAL_CHECK_FOR_REQUESTS: ask for an event at the next request,
    // then look once more, so one pushed meanwhile is not slept through.
    if (armed && connection_.ring().final_check_for_requests()) {
        return;
    }
    if (engine_->has_completions() || barrier_ready()) {
        return;
    }
    hypervisor::EventChannel& channel = connection_.event_channel();
    pollfd fds[3] = {
        {engine_->completion_fd(), POLLIN, 0},
        {stop_event_.fd(), POLLIN, 0},
        {channel.fd(), POLLIN, 0},
    };
    const nfds_t count = armed ? 3 : 2;
    VbdMetrics::add(metrics_->sleeps);
    while (::poll(fds, count, -1) < 0) {
        if (errno != EINTR) {
            os::throw_system_error("poll (blkback ring " + name_ + ")");
        }
    }
    poll_.record(Clock::now() - poll_start_);
    if (armed && (fds[2].revents & POLLIN) != 0 && channel.poll()) {
        VbdMetrics::add(metrics_->notifications_received);
    }
    if ((fds[1].revents & POLLIN) != 0) {
        (void)stop_event_.try_consume();
    }
}

bool DataPlane::take_requests() {
    xen::BlkifBackRing& ring = connection_.ring();
    const xen::RingIdx rp = ring.req_prod();
    if (ring.request_prod_overflow(rp)) {
        fail_ring("frontend provided bogus ring requests: req_prod " + std::to_string(rp) + " is " +
                  std::to_string(static_cast<xen::RingIdx>(rp - ring.rsp_prod_pvt())) +
                  " ahead of the responses, more than the " + std::to_string(ring.size()) +
                  " slots of the ring; halting the ring");
        return false;
    }
    access_.purge_persistent();
    burst_.clear();
    bool took = false;
    while (ring.req_cons() != rp && !barrier_waiting_) {
        if (ring.request_cons_overflow(ring.req_cons()) || pending_.full() || engine_->full()) {
            break;
        }
        const xen::BlkifRequest copy = ring.consume_request();
        took = true;
        VbdMetrics::add(metrics_->requests);
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
                VbdMetrics::add(metrics_->reads);
                break;
            case IoKind::write:
                VbdMetrics::add(metrics_->writes);
                break;
            case IoKind::flush:
                VbdMetrics::add(metrics_->flushes);
                break;
            case IoKind::barrier:
                VbdMetrics::add(metrics_->barriers);
                break;
            case IoKind::discard:
                VbdMetrics::add(metrics_->discards);
                break;
        }
        if (request.indirect) {
            VbdMetrics::add(metrics_->indirect_requests);
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
    }
    if (!burst_.empty()) {
        start_burst();
    }
    flush_retired();
    return took;
}

bool DataPlane::dispatch_waiting_barrier() {
    if (!barrier_ready()) {
        return false;
    }
    burst_.assign(1, *barrier_waiting_);
    barrier_waiting_.reset();
    start_burst();
    flush_retired();
    return true;
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
    engine_->flush_submissions();
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
    switch (request.kind) {
        case IoKind::read:
            return engine_->submit_read(index, offset, iov);
        case IoKind::write:
            return engine_->submit_write(index, offset, iov);
        case IoKind::flush:
        case IoKind::barrier:
            if (pending.stage == PendingRequest::Stage::io && request.nr_segments != 0) {
                return engine_->submit_write(index, offset, iov);
            }
            return engine_->submit_flush(index);
        case IoKind::discard:
            return engine_->submit_discard(index, offset, request.bytes());
    }
    return false;
}

bool DataPlane::reap_completions() {
    if (!engine_->has_completions()) {
        return false;
    }
    resubmitted_ = false;
    const std::size_t reaped =
        engine_->reap([this](const storage::IoCompletion& c) { on_completion(c); });
    if (resubmitted_) {
        engine_->flush_submissions();
    }
    flush_retired();
    return reaped != 0;
}

void DataPlane::on_completion(const storage::IoCompletion& completion) {
    const auto index = static_cast<std::uint32_t>(completion.tag);
    PendingRequest& pending = pending_[index];
    const CheckedRequest& request = pending.request;
    const bool data_stage = pending.stage == PendingRequest::Stage::io && request.has_data();
    const std::int64_t expected = data_stage ? static_cast<std::int64_t>(request.bytes()) : 0;
    if (completion.result != expected) {
        if (request.kind == IoKind::discard && completion.result == -EOPNOTSUPP) {
            // dispatch_discard_io: "err == -EOPNOTSUPP" -> BLKIF_RSP_EOPNOTSUPP.
            retire(index, BlkifStatus::eopnotsupp);
            return;
        }
        if (completion.result < 0) {
            spdlog::warn("{}: request {} ({}): {}", name_, request.id, xen::name(request.operation),
                         std::strerror(static_cast<int>(-completion.result)));
        } else {
            spdlog::warn("{}: request {} ({}): {} of {} bytes", name_, request.id,
                         xen::name(request.operation), completion.result, expected);
        }
        retire(index, BlkifStatus::error);
        return;
    }
    if (data_stage) {
        VbdMetrics::add(
            request.kind == IoKind::read ? metrics_->bytes_read : metrics_->bytes_written,
            request.bytes());
    }
    if ((request.kind == IoKind::flush || request.kind == IoKind::barrier) && data_stage) {
        // The data is written; now the flush. The grants can go already.
        release_grants(index);
        pending.stage = PendingRequest::Stage::flush;
        if (engine_->submit_flush(index)) {
            resubmitted_ = true;
            return;
        }
        retire(index, BlkifStatus::error);
        return;
    }
    retire(index, BlkifStatus::okay);
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

void DataPlane::make_response(std::uint64_t id, xen::BlkifOp operation, BlkifStatus status) {
    xen::BlkifResponse response{};
    response.id = id;
    response.operation = operation;
    response.status = status;
    connection_.ring().produce_response(response);
    responses_unpushed_ = true;
    VbdMetrics::add(metrics_->responses);
    if (status == BlkifStatus::error) {
        VbdMetrics::add(metrics_->errors);
    } else if (status == BlkifStatus::eopnotsupp) {
        VbdMetrics::add(metrics_->unsupported);
    }
}

void DataPlane::push_responses() {
    if (!std::exchange(responses_unpushed_, false)) {
        return;
    }
    if (connection_.ring().push_responses_and_check_notify()) {
        connection_.event_channel().notify();
        VbdMetrics::add(metrics_->notifications_sent);
    } else {
        VbdMetrics::add(metrics_->notifications_suppressed);
    }
}

void DataPlane::fail_ring(const std::string& reason) {
    if (ring_failed_.exchange(true, std::memory_order_acq_rel)) {
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

void DataPlane::drain_after_failure() noexcept {
    try {
        while (engine_->in_flight() != 0) {
            pollfd entry{engine_->completion_fd(), POLLIN, 0};
            if (::poll(&entry, 1, -1) < 0 && errno != EINTR) {
                break;
            }
            engine_->reap([this](const storage::IoCompletion& c) {
                release_grants(static_cast<std::uint32_t>(c.tag));
            });
        }
        if (barrier_waiting_) {
            release_grants(*barrier_waiting_);
            barrier_waiting_.reset();
        }
        access_.unmap();
    } catch (const std::exception& e) {
        spdlog::error("{}: draining the ring after a failure: {}", name_, e.what());
    }
    while (!stop_requested_.load(std::memory_order_acquire)) {
        pollfd entry{stop_event_.fd(), POLLIN, 0};
        if (::poll(&entry, 1, -1) < 0 && errno != EINTR) {
            return;
        }
        (void)stop_event_.try_consume();
    }
}

}  // namespace pvsim::backend::blkback
