#include "backend/blkback/data_plane.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "hypervisor/protocol/hypercall.hpp"

namespace pvsim::backend::blkback {
namespace {

using Clock = std::chrono::steady_clock;
using xen::BlkifStatus;

// A hint to the CPU that this is a spin-wait (x86 PAUSE), so the polling
// loop leaves the sibling hyperthread its share and does not flood the
// memory system.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

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
      grant_mode_(options.grant_mode),
      persistent_(options.persistent && options.grant_mode == xen::BlkifGrantMode::map),
      pending_(connection_.ring().size(), limits_.max_segments()),
      persistent_grants_(options.max_persistent_grants, options.persistent_timeout) {
    // One engine slot per ring slot: the frontend cannot have more requests
    // outstanding than the ring holds, so the engine never refuses one.
    storage::EngineOptions engine_options;
    engine_options.kind = options.engine;
    engine_options.queue_depth = pending_.size();
    engine_ = storage::make_engine(store.io_target(), engine_options);
    burst_.reserve(pending_.size());
    map_batch_.reserve(hypervisor::wire::kMaxBatch);
    unmap_batch_.reserve(hypervisor::wire::kMaxBatch);
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
    release_all();
}

void DataPlane::release_all() noexcept {
    try {
        // free_persistent_gnts: nothing is in flight any more.
        const std::vector<xen::GrantHandle> handles = persistent_grants_.take_all();
        VbdMetrics::sub(metrics_->persistent_grants, handles.size());
        unmap_batch_.insert(unmap_batch_.end(), handles.begin(), handles.end());
        unmap_batch();
    } catch (const std::exception& e) {
        spdlog::error("{}: unmapping the persistent grants: {}", name_, e.what());
    }
    for (const hypervisor::Gfn gfn : all_copy_pages_) {
        try {
            connection_.hypervisor().memory().free_page(gfn);
        } catch (const std::exception& e) {
            spdlog::error("{}: freeing copy page {}: {}", name_, gfn, e.what());
        }
    }
    all_copy_pages_.clear();
    free_copy_pages_.clear();
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
    purge_persistent();
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
    if (copy_mode()) {
        copy_in_segments();
    } else {
        uses_.clear();
        for (const std::uint32_t index : burst_) {
            PendingRequest& pending = pending_[index];
            const CheckedRequest& request = pending.request;
            if (!request.has_data()) {
                continue;
            }
            VbdMetrics::add(metrics_->segments, request.nr_segments);
            for (unsigned s = 0; s < request.nr_segments; ++s) {
                uses_.push_back({index, pending.segs[s].gref, request.maps_readonly(),
                                 &pending.grants[s], &pending.iov[s].iov_base});
            }
        }
        map_grants(uses_);
        for (const std::uint32_t index : burst_) {
            PendingRequest& pending = pending_[index];
            for (unsigned s = 0; s < pending.request.nr_segments && pending.request.has_data();
                 ++s) {
                if (pending.grants[s].kind != SegmentGrant::Kind::none) {
                    set_segment_iov(pending, s, static_cast<std::byte*>(pending.iov[s].iov_base));
                }
            }
        }
    }
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

void DataPlane::set_segment_iov(PendingRequest& pending, unsigned s, std::byte* page) {
    const xen::BlkifRequestSegment& seg = pending.segs[s];
    pending.iov[s].iov_base = page + std::size_t{seg.first_sect} * xen::kBlkifSectorSize;
    pending.iov[s].iov_len =
        (std::size_t{seg.last_sect} - seg.first_sect + 1) * xen::kBlkifSectorSize;
}

void DataPlane::read_indirect_segments() {
    bool any = false;
    for (const std::uint32_t index : burst_) {
        any = any || pending_[index].request.indirect;
    }
    if (!any) {
        return;
    }
    if (copy_mode()) {
        // Linux's choice for copy mode too: the indirect pages are read with
        // a grant copy into pages of our own.
        copy_batch_.clear();
        std::vector<std::pair<std::uint32_t, unsigned>> owners;
        for (const std::uint32_t index : burst_) {
            PendingRequest& pending = pending_[index];
            const CheckedRequest& request = pending.request;
            if (!request.indirect) {
                continue;
            }
            for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
                const hypervisor::Gfn gfn = take_copy_page();
                pending.indirect[p] =
                    SegmentGrant{SegmentGrant::Kind::copied, 0, request.indirect_grefs[p], gfn};
                pending.indirect_pages[p] = connection_.hypervisor().memory().page(gfn).data();
                const unsigned first = p * xen::kBlkifSegmentsPerIndirectFrame;
                const unsigned count =
                    std::min(request.nr_segments - first, xen::kBlkifSegmentsPerIndirectFrame);
                copy_batch_.push_back(
                    {{true, request.indirect_grefs[p], connection_.frontend(), 0},
                     {false, gfn, xen::kDomidSelf, 0},
                     static_cast<std::uint16_t>(count * sizeof(xen::BlkifRequestSegment))});
                owners.emplace_back(index, p);
            }
        }
        batch_copies(copy_batch_, copy_statuses_);
        for (std::size_t i = 0; i < owners.size(); ++i) {
            if (copy_statuses_[i] != xen::GntSt::okay) {
                pending_[owners[i].first].failed = true;
            }
        }
    } else {
        uses_.clear();
        for (const std::uint32_t index : burst_) {
            PendingRequest& pending = pending_[index];
            const CheckedRequest& request = pending.request;
            if (!request.indirect) {
                continue;
            }
            for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
                pending.indirect_pages[p] = nullptr;
                uses_.push_back({index, request.indirect_grefs[p], true, &pending.indirect[p],
                                 &pending.indirect_pages[p]});
            }
        }
        map_grants(uses_);
    }
    for (const std::uint32_t index : burst_) {
        PendingRequest& pending = pending_[index];
        CheckedRequest& request = pending.request;
        if (!request.indirect) {
            continue;
        }
        if (!pending.failed) {
            // Read once: the frontend may scribble on its pages from now on.
            for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
                const unsigned first = p * xen::kBlkifSegmentsPerIndirectFrame;
                const unsigned count =
                    std::min(request.nr_segments - first, xen::kBlkifSegmentsPerIndirectFrame);
                std::memcpy(&pending.segs[first], pending.indirect_pages[p],
                            count * sizeof(xen::BlkifRequestSegment));
            }
        }
        for (unsigned p = 0; p < request.nr_indirect_pages; ++p) {
            give_back(pending.indirect[p]);
        }
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

void DataPlane::map_grants(std::vector<GrantUse>& uses) {
    const xen::DomId frontend = connection_.frontend();
    map_batch_.clear();
    std::vector<std::size_t> to_map;
    for (std::size_t i = 0; i < uses.size(); ++i) {
        GrantUse& use = uses[i];
        if (persistent_) {
            std::byte* page = nullptr;
            if (persistent_grants_.get(use.ref, &page) == PersistentGrants::Lookup::found) {
                *use.grant = SegmentGrant{SegmentGrant::Kind::persistent, 0, use.ref, 0};
                *use.page = page;
                continue;
            }
        }
        // Persistent grants are mapped read/write whatever the request
        // (Linux: "if (!use_persistent_gnts && ro) flags |= GNTMAP_readonly").
        to_map.push_back(i);
    }
    std::vector<hypervisor::GrantMapping> mappings;
    for (std::size_t first = 0; first < to_map.size(); first += hypervisor::wire::kMaxBatch) {
        const std::size_t count =
            std::min<std::size_t>(hypervisor::wire::kMaxBatch, to_map.size() - first);
        map_batch_.clear();
        for (std::size_t i = first; i < first + count; ++i) {
            const GrantUse& use = uses[to_map[i]];
            map_batch_.push_back({frontend, use.ref, use.readonly && !persistent_});
        }
        try {
            std::vector<hypervisor::GrantMapping> part =
                connection_.hypervisor().map_grant_refs(map_batch_);
            VbdMetrics::add(metrics_->map_hypercalls);
            mappings.insert(mappings.end(), part.begin(), part.end());
        } catch (const hypervisor::HypercallError& e) {
            spdlog::warn("{}: mapping {} grants: {}", name_, map_batch_.size(), e.what());
            mappings.resize(mappings.size() + count, hypervisor::GrantMapping{});
        }
    }
    for (std::size_t i = 0; i < to_map.size(); ++i) {
        GrantUse& use = uses[to_map[i]];
        const hypervisor::GrantMapping& mapping = mappings[i];
        if (mapping.status != xen::GntSt::okay) {
            PendingRequest& pending = pending_[use.index];
            if (!pending.failed) {
                spdlog::debug("{}: request {}: grant {} of dom{} does not map: {}", name_,
                              pending.request.id, use.ref, frontend, xen::name(mapping.status));
            }
            pending.failed = true;
            *use.grant = SegmentGrant{};
            *use.page = nullptr;
            VbdMetrics::add(metrics_->grant_map_failures);
            continue;
        }
        VbdMetrics::add(metrics_->grant_maps);
        *use.page = mapping.page;
        std::byte* ignored = nullptr;
        if (persistent_ &&
            persistent_grants_.get(use.ref, &ignored) == PersistentGrants::Lookup::absent &&
            persistent_grants_.has_room()) {
            // add_persistent_gnt. A ref met twice in one burst is kept the
            // first time only; the second mapping is this request's alone.
            persistent_grants_.add(use.ref, mapping.handle, mapping.page);
            VbdMetrics::add(metrics_->persistent_grants);
            *use.grant = SegmentGrant{SegmentGrant::Kind::persistent, 0, use.ref, 0};
        } else {
            *use.grant = SegmentGrant{SegmentGrant::Kind::mapped, mapping.handle, use.ref, 0};
        }
    }
}

hypervisor::Gfn DataPlane::take_copy_page() {
    if (!free_copy_pages_.empty()) {
        const hypervisor::Gfn gfn = free_copy_pages_.back();
        free_copy_pages_.pop_back();
        return gfn;
    }
    const hypervisor::Gfn gfn = connection_.hypervisor().memory().allocate_page();
    all_copy_pages_.push_back(gfn);
    return gfn;
}

void DataPlane::batch_copies(std::span<const hypervisor::GrantCopyRequest> copies,
                             std::vector<xen::GntSt>& statuses) {
    statuses.clear();
    for (std::size_t first = 0; first < copies.size(); first += hypervisor::wire::kMaxBatch) {
        const auto part = copies.subspan(
            first, std::min<std::size_t>(hypervisor::wire::kMaxBatch, copies.size() - first));
        try {
            const std::vector<xen::GntSt> got = connection_.hypervisor().copy_grants(part);
            statuses.insert(statuses.end(), got.begin(), got.end());
            VbdMetrics::add(metrics_->copy_hypercalls);
            VbdMetrics::add(metrics_->grant_copies, part.size());
        } catch (const hypervisor::HypercallError& e) {
            spdlog::warn("{}: copying {} grants: {}", name_, part.size(), e.what());
            statuses.resize(statuses.size() + part.size(), xen::GntSt::general_error);
        }
    }
}

void DataPlane::copy_in_segments() {
    copy_batch_.clear();
    std::vector<std::uint32_t> owners;
    hypervisor::DomainMemory& memory = connection_.hypervisor().memory();
    for (const std::uint32_t index : burst_) {
        PendingRequest& pending = pending_[index];
        const CheckedRequest& request = pending.request;
        if (!request.has_data()) {
            continue;
        }
        VbdMetrics::add(metrics_->segments, request.nr_segments);
        for (unsigned s = 0; s < request.nr_segments; ++s) {
            const xen::BlkifRequestSegment& seg = pending.segs[s];
            const hypervisor::Gfn gfn = take_copy_page();
            pending.grants[s] = SegmentGrant{SegmentGrant::Kind::copied, 0, seg.gref, gfn};
            set_segment_iov(pending, s, memory.page(gfn).data());
            if (request.kind == IoKind::read) {
                continue;
            }
            const auto offset =
                static_cast<std::uint16_t>(std::size_t{seg.first_sect} * xen::kBlkifSectorSize);
            copy_batch_.push_back({{true, seg.gref, connection_.frontend(), offset},
                                   {false, gfn, xen::kDomidSelf, offset},
                                   static_cast<std::uint16_t>(pending.iov[s].iov_len)});
            owners.push_back(index);
        }
    }
    batch_copies(copy_batch_, copy_statuses_);
    for (std::size_t i = 0; i < owners.size(); ++i) {
        if (copy_statuses_[i] != xen::GntSt::okay) {
            pending_[owners[i]].failed = true;
            VbdMetrics::add(metrics_->grant_map_failures);
        }
    }
}

void DataPlane::give_back(SegmentGrant& grant) {
    switch (grant.kind) {
        case SegmentGrant::Kind::none:
            break;
        case SegmentGrant::Kind::mapped:
            unmap_batch_.push_back(grant.handle);
            break;
        case SegmentGrant::Kind::persistent:
            persistent_grants_.put(grant.ref);
            break;
        case SegmentGrant::Kind::copied:
            free_copy_pages_.push_back(grant.gfn);
            break;
    }
    grant = SegmentGrant{};
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
        release_grants(index, false);
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

void DataPlane::release_grants(std::uint32_t index, bool copy_out) {
    PendingRequest& pending = pending_[index];
    const CheckedRequest& request = pending.request;
    if (!request.has_data()) {
        return;
    }
    for (unsigned s = 0; s < request.nr_segments; ++s) {
        SegmentGrant& grant = pending.grants[s];
        if (grant.kind == SegmentGrant::Kind::copied && copy_out && request.kind == IoKind::read) {
            const xen::BlkifRequestSegment& seg = pending.segs[s];
            const auto offset =
                static_cast<std::uint16_t>(std::size_t{seg.first_sect} * xen::kBlkifSectorSize);
            copy_out_.push_back({{false, grant.gfn, xen::kDomidSelf, offset},
                                 {true, grant.ref, connection_.frontend(), offset},
                                 static_cast<std::uint16_t>(pending.iov[s].iov_len)});
            copy_out_retired_.push_back(retired_.size() - 1);
            copy_pages_done_.push_back(grant.gfn);
            grant = SegmentGrant{};
            continue;
        }
        give_back(grant);
    }
}

void DataPlane::retire(std::uint32_t index, BlkifStatus status) {
    retired_.push_back({index, status});
    release_grants(index, status == BlkifStatus::okay);
}

void DataPlane::purge_persistent() {
    if (!persistent_) {
        return;
    }
    const std::vector<xen::GrantHandle> handles = persistent_grants_.purge();
    if (handles.empty()) {
        return;
    }
    VbdMetrics::sub(metrics_->persistent_grants, handles.size());
    VbdMetrics::add(metrics_->persistent_purged, handles.size());
    unmap_batch_.insert(unmap_batch_.end(), handles.begin(), handles.end());
}

void DataPlane::unmap_batch() {
    for (std::size_t first = 0; first < unmap_batch_.size(); first += hypervisor::wire::kMaxBatch) {
        const auto part = std::span(unmap_batch_)
                              .subspan(first, std::min<std::size_t>(hypervisor::wire::kMaxBatch,
                                                                    unmap_batch_.size() - first));
        try {
            const std::vector<xen::GntSt> statuses =
                connection_.hypervisor().unmap_grant_refs(part);
            VbdMetrics::add(metrics_->unmap_hypercalls);
            for (std::size_t i = 0; i < statuses.size(); ++i) {
                if (statuses[i] == xen::GntSt::okay) {
                    VbdMetrics::add(metrics_->grant_unmaps);
                } else {
                    spdlog::warn("{}: unmapping handle {}: {}", name_, part[i],
                                 xen::name(statuses[i]));
                }
            }
        } catch (const hypervisor::HypercallError& e) {
            spdlog::warn("{}: unmapping {} grants: {}", name_, part.size(), e.what());
        }
    }
    unmap_batch_.clear();
}

void DataPlane::flush_retired() {
    // The data read goes to the guest before the response says it is there
    // (copy mode), in one batch.
    if (!copy_out_.empty()) {
        batch_copies(copy_out_, copy_statuses_);
        for (std::size_t i = 0; i < copy_out_.size(); ++i) {
            if (copy_statuses_[i] != xen::GntSt::okay) {
                retired_[copy_out_retired_[i]].status = BlkifStatus::error;
            }
        }
        free_copy_pages_.insert(free_copy_pages_.end(), copy_pages_done_.begin(),
                                copy_pages_done_.end());
        copy_out_.clear();
        copy_out_retired_.clear();
        copy_pages_done_.clear();
    }
    // Unmap before answering (Linux: xen_blkbk_unmap before make_response),
    // so the frontend can end its grants' access as soon as it sees the
    // response.
    if (!unmap_batch_.empty()) {
        unmap_batch();
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
                release_grants(static_cast<std::uint32_t>(c.tag), false);
            });
        }
        if (barrier_waiting_) {
            release_grants(*barrier_waiting_, false);
            barrier_waiting_.reset();
        }
        unmap_batch();
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
