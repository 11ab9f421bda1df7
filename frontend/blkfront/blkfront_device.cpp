#include "frontend/blkfront/blkfront_device.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
constexpr int kDeferredRetryMs = 10;

unsigned segments_per_request(const DiskInfo& disk) noexcept {
    // blkfront_gather_backend_features: indirect only when it allows more
    // than a direct request carries.
    if (disk.max_indirect_segments <= xen::kBlkifMaxSegmentsPerRequest) {
        return xen::kBlkifMaxSegmentsPerRequest;
    }
    return std::min<unsigned>(disk.max_indirect_segments, xen::kBlkifMaxIndirectSegments);
}

}  // namespace

BlkfrontDevice::BlkfrontDevice(hypervisor::Hypervisor& hypervisor, void* ring_area,
                               std::size_t ring_bytes, hypervisor::EventChannel channel,
                               DataPlaneConfig config, FailureHandler on_failure)
    : hypervisor_(hypervisor),
      config_(std::move(config)),
      on_failure_(std::move(on_failure)),
      capacity_(config_.disk.sectors),
      poll_max_ns_(std::chrono::nanoseconds(config_.poll).count()),
      ring_(ring_area, ring_bytes, 0),
      channel_(std::move(channel)),
      shadow_(ring_.size()),
      flush_operation_(config_.disk.flush_operation()),
      max_segments_(segments_per_request(config_.disk)),
      pool_(hypervisor, config_.backend_id, config_.name),
      poll_(config_.poll) {
    if (!channel_) {
        throw std::invalid_argument("blkfront " + config_.name + ": no event channel");
    }
    thread_ = std::thread([this] { run(); });
}

BlkfrontDevice::~BlkfrontDevice() {
    disconnect("device closed");
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake();
    thread_.join();
    std::lock_guard lock(mutex_);
    pool_.free_all();
}

std::uint64_t BlkfrontDevice::capacity_sectors() const {
    return capacity_.load(std::memory_order_relaxed);
}

std::uint32_t BlkfrontDevice::sector_size() const {
    return config_.disk.sector_size;
}

bool BlkfrontDevice::read_only() const {
    return config_.disk.read_only();
}

std::size_t BlkfrontDevice::in_flight() const {
    return in_flight_.load(std::memory_order_acquire);
}

std::string BlkfrontDevice::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

bool BlkfrontDevice::accepting() const {
    std::lock_guard lock(mutex_);
    return accepting_;
}

std::size_t BlkfrontDevice::on_ring() const {
    std::lock_guard lock(mutex_);
    return ring_live_ ? shadow_.in_use() : 0;
}

bool BlkfrontDevice::failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
}

BlkfrontCounters BlkfrontDevice::counters() const {
    BlkfrontCounters c;
    c.requests = requests_.load(std::memory_order_relaxed);
    c.segments = segments_.load(std::memory_order_relaxed);
    c.bytes = bytes_.load(std::memory_order_relaxed);
    c.responses = responses_.load(std::memory_order_relaxed);
    c.notifications_sent = sent_.load(std::memory_order_relaxed);
    c.notifications_suppressed = suppressed_.load(std::memory_order_relaxed);
    c.notifications_received = received_.load(std::memory_order_relaxed);
    c.grants_deferred = grants_deferred_.load(std::memory_order_relaxed);
    c.indirect_requests = indirect_.load(std::memory_order_relaxed);
    c.data_copies = data_copies_.load(std::memory_order_relaxed);
    c.discards = discards_.load(std::memory_order_relaxed);
    c.flushes = flushes_.load(std::memory_order_relaxed);
    c.persistent_grants = pool_.granted();
    c.ring_pages =
        (ring_.size() * sizeof(xen::BlkifSringEntry) + xen::kXenPageSize - 1) / xen::kXenPageSize;
    return c;
}

void BlkfrontDevice::set_capacity(std::uint64_t sectors) {
    capacity_.store(sectors, std::memory_order_relaxed);
}

std::chrono::microseconds BlkfrontDevice::poll() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::nanoseconds(poll_max_ns_.load(std::memory_order_relaxed)));
}

void BlkfrontDevice::set_poll(std::chrono::microseconds window) {
    poll_max_ns_.store(std::chrono::nanoseconds(window).count(), std::memory_order_relaxed);
}

void BlkfrontDevice::wake() {
    local_work_.store(true, std::memory_order_release);
    wake_.signal();
}

// ---------------------------------------------------------------------------
// Submission

void BlkfrontDevice::submit(std::span<BlockRequest> batch) {
    const bool on_completion_thread = std::this_thread::get_id() == thread_.get_id();
    std::unique_lock lock(mutex_);
    const std::size_t ready_before = ready_.size();
    in_flight_.fetch_add(batch.size(), std::memory_order_acq_rel);
    for (BlockRequest& request : batch) {
        auto io = std::make_shared<PendingIo>(std::move(request));
        const BlockRequest& whole = io->request;
        int status = 0;
        std::vector<BlkifRequestPlan> plans;
        if (!accepting_) {
            status = -ENODEV;
        } else if (whole.operation == BlockOperation::discard && !config_.disk.feature_discard) {
            status = -EOPNOTSUPP;
        } else {
            try {
                plans = plan_requests(whole.operation, whole.sector, whole.buffer,
                                      flush_operation_.value_or(xen::BlkifOp::flush_diskcache),
                                      max_segments_, whole.discard_sectors);
            } catch (const std::invalid_argument& e) {
                spdlog::warn("blkfront {}: request refused: {}", config_.name, e.what());
                status = -EINVAL;
            }
            if (status == 0 && whole.operation != BlockOperation::flush) {
                const std::uint64_t capacity = capacity_.load(std::memory_order_relaxed);
                const std::uint64_t sectors = whole.operation == BlockOperation::discard
                                                  ? whole.discard_sectors
                                                  : buffer_sectors(*whole.buffer);
                if (whole.sector > capacity || sectors > capacity - whole.sector) {
                    spdlog::warn("blkfront {}: sectors {}+{} lie past the end ({} sectors)",
                                 config_.name, whole.sector, sectors, capacity);
                    status = -EIO;
                }
            }
            if (status != 0 || (whole.operation == BlockOperation::flush && !flush_operation_)) {
                plans.clear();
            }
        }
        if (plans.empty()) {
            io->status = status;
            ready_.push_back(std::move(io));
            continue;
        }
        io->outstanding = static_cast<unsigned>(plans.size());
        for (BlkifRequestPlan& plan : plans) {
            issue_locked(lock, std::move(plan), io, on_completion_thread);
        }
    }
    push_locked();
    if (ready_.size() != ready_before || !queued_.empty()) {
        lock.unlock();
        wake();
    }
}

void BlkfrontDevice::issue_locked(std::unique_lock<std::mutex>& lock, BlkifRequestPlan plan,
                                  const std::shared_ptr<PendingIo>& io, bool on_completion_thread) {
    for (;;) {
        if (!accepting_) {
            finish_part_locked(io, -ENODEV);
            return;
        }
        if (holding_) {
            // blkif_recover takes it back with the rest.
            queued_.push_back(Queued{std::move(plan), io});
            return;
        }
        if (!ring_.full() && !shadow_.full() && queued_.empty()) {
            break;
        }
        // Let the backend see what is queued before waiting for it.
        push_locked();
        if (on_completion_thread) {
            queued_.push_back(Queued{std::move(plan), io});
            return;
        }
        if (!ring_.full() && !shadow_.full()) {
            // Only the completion thread's queue is ahead of us: it issues
            // that as slots free, and so may we.
            break;
        }
        space_.wait(lock);
    }
    put_on_ring_locked(plan, io);
}

void BlkfrontDevice::put_on_ring_locked(const BlkifRequestPlan& plan,
                                        const std::shared_ptr<PendingIo>& io) {
    ShadowEntry entry;
    std::uint64_t copies = 0;
    try {
        copies = grant_request(hypervisor_, config_.backend_id, config_.handle, plan,
                               config_.disk.feature_persistent ? &pool_ : nullptr, entry);
    } catch (const std::bad_alloc&) {
        // Nothing of it reached the backend: every grant ends at once.
        release_entry_locked(entry, nullptr);
        spdlog::warn("blkfront {}: grant table or memory full; request fails with ENOMEM",
                     config_.name);
        finish_part_locked(io, -ENOMEM);
        return;
    }
    entry.io = io;
    const std::uint64_t id = *shadow_.take();
    entry.request.id = id;  // at the same offset in every layout
    ShadowEntry& slot = shadow_.at(id);
    slot = std::move(entry);
    ring_.produce_request(slot.request);
    requests_.fetch_add(1, std::memory_order_relaxed);
    segments_.fetch_add(plan.segments.size(), std::memory_order_relaxed);
    data_copies_.fetch_add(copies, std::memory_order_relaxed);
    if (plan.operation != xen::BlkifOp::discard) {
        bytes_.fetch_add(plan.bytes(), std::memory_order_relaxed);
    }
    if (plan.indirect()) {
        indirect_.fetch_add(1, std::memory_order_relaxed);
    }
    if (plan.operation == xen::BlkifOp::discard) {
        discards_.fetch_add(1, std::memory_order_relaxed);
    } else if (plan.operation == xen::BlkifOp::flush_diskcache ||
               plan.operation == xen::BlkifOp::write_barrier) {
        flushes_.fetch_add(1, std::memory_order_relaxed);
    }
}

void BlkfrontDevice::release_entry_locked(ShadowEntry& entry,
                                          const std::shared_ptr<PendingIo>& io) {
    pool_.give_back(entry.persistent);
    if (io) {
        end_grants_locked(entry.grants, io);
        for (const IndirectFrame& frame : entry.indirect_frames) {
            end_grants_locked({frame.ref}, io, frame.gfn);
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
}

void BlkfrontDevice::push_locked() {
    if (!ring_live_ || ring_.req_prod_pvt() == published_) {
        return;
    }
    published_ = ring_.req_prod_pvt();
    if (!ring_.push_requests_and_check_notify()) {
        suppressed_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    try {
        channel_.notify();
        sent_.fetch_add(1, std::memory_order_relaxed);
    } catch (const std::exception& e) {
        fail_locked("notifying the backend: " + std::string(e.what()), true);
    }
}

// ---------------------------------------------------------------------------
// Completion

void BlkfrontDevice::finish_part_locked(const std::shared_ptr<PendingIo>& io, int status) {
    if (io->finish_part(status)) {
        ready_.push_back(io);
    }
}

void BlkfrontDevice::end_grants_locked(const GrantRefs& grants,
                                       const std::shared_ptr<PendingIo>& io,
                                       std::optional<hypervisor::Gfn> page) {
    for (xen::GrantRef ref : grants) {
        if (hypervisor_.grant_table().try_end_access(ref)) {
            if (page) {
                hypervisor_.memory().free_page(*page);
            }
        } else {
            // Without persistent grants the backend unmaps before it
            // answers; one that did not gets its page kept from reuse.
            deferred_.push_back(DeferredGrant{ref, io, page});
            ++io->outstanding;
            grants_deferred_.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

std::optional<std::string> BlkfrontDevice::take_responses_locked(bool& worked) {
    const xen::RingIdx rsp_prod = ring_.rsp_prod();
    if (auto why = check_response_prod(ring_, rsp_prod)) {
        return why;
    }
    bool freed = false;
    while (ring_.rsp_cons() != rsp_prod) {
        const xen::BlkifResponse response = ring_.consume_response();
        if (auto why = check_response(response, shadow_)) {
            return why;
        }
        ShadowEntry entry = shadow_.release(response.id);
        responses_.fetch_add(1, std::memory_order_relaxed);
        freed = true;
        const int status = response_errno(response.status);
        const xen::BlkifOp op = entry.request.operation;
        if (status == -EOPNOTSUPP &&
            (op == xen::BlkifOp::flush_diskcache || op == xen::BlkifOp::write_barrier)) {
            // blkif_interrupt: the backend turned the feature down after
            // all; flushes from now on complete at once.
            spdlog::warn("blkfront {}: {} op failed: not supported by the backend", config_.name,
                         xen::name(op));
            flush_operation_.reset();
        } else if (status != 0) {
            spdlog::debug("blkfront {}: {} at sector {} answered {} ({})", config_.name,
                          xen::name(op), entry.request.sector_number, xen::name(response.status),
                          static_cast<int>(response.status));
        }
        if (status == 0 && !entry.segments.empty()) {
            // A read through persistent grants: its data is copied out.
            data_copies_.fetch_add(copy_read_out(hypervisor_.memory(), entry),
                                   std::memory_order_relaxed);
        }
        release_entry_locked(entry, entry.io);
        finish_part_locked(entry.io, status);
    }
    if (freed) {
        worked = true;
        space_.notify_all();
    }
    return std::nullopt;
}

bool BlkfrontDevice::retry_deferred_locked() {
    bool progressed = false;
    for (auto it = deferred_.begin(); it != deferred_.end();) {
        if (hypervisor_.grant_table().try_end_access(it->ref)) {
            if (it->page) {
                hypervisor_.memory().free_page(*it->page);
            }
            finish_part_locked(it->io, 0);
            it = deferred_.erase(it);
            progressed = true;
        } else {
            ++it;
        }
    }
    return progressed;
}

bool BlkfrontDevice::issue_queued_locked() {
    bool issued = false;
    while (!queued_.empty() && accepting_ && !holding_ && !ring_.full() && !shadow_.full()) {
        Queued next = std::move(queued_.front());
        queued_.pop_front();
        put_on_ring_locked(next.plan, next.io);
        issued = true;
    }
    if (issued) {
        push_locked();
    }
    return issued;
}

void BlkfrontDevice::fail_everything_locked(int status) {
    for (std::uint64_t id : shadow_.pending_ids()) {
        ShadowEntry entry = shadow_.release(id);
        release_entry_locked(entry, nullptr);
        finish_part_locked(entry.io, status);
    }
    for (Queued& queued : queued_) {
        finish_part_locked(queued.io, status);
    }
    queued_.clear();
    for (DeferredGrant& deferred : deferred_) {
        end_or_park_grant(hypervisor_, deferred.ref, deferred.page);
        finish_part_locked(deferred.io, 0);  // its response came; only the grant lingers
    }
    deferred_.clear();
    pool_.free_all();
    space_.notify_all();
}

void BlkfrontDevice::stop_accepting_locked(const std::string& reason) {
    if (accepting_) {
        accepting_ = false;
        if (error_.empty()) {
            error_ = reason;
        }
    }
    for (Queued& queued : queued_) {
        finish_part_locked(queued.io, -ENODEV);
    }
    queued_.clear();
    space_.notify_all();
}

void BlkfrontDevice::fail_locked(const std::string& reason, bool report) {
    if (failed_) {
        return;
    }
    spdlog::error("blkfront {}: {}; device disabled for further use", config_.name, reason);
    failed_ = true;
    error_ = reason;
    accepting_ = false;
    ring_live_ = false;  // nothing more is read from this ring
    failure_unreported_ = report;
    fail_everything_locked(-ENODEV);
    detached_.notify_all();
    wake();  // the completion thread runs the callbacks and reports it
}

void BlkfrontDevice::detach_locked() {
    bool worked = false;
    if (auto why = take_responses_locked(worked)) {
        fail_locked(*why, true);
    }
    stop_accepting_locked(detach_reason_);
    fail_everything_locked(-ENODEV);
    ring_live_ = false;
    detach_requested_ = false;
    try {
        channel_.close();
    } catch (const std::exception& e) {
        spdlog::warn("blkfront {}: closing the event channel: {}", config_.name, e.what());
    }
    detached_.notify_all();
}

void BlkfrontDevice::stop_accepting(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        stop_accepting_locked(reason);
    }
    wake();
}

void BlkfrontDevice::fail(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        fail_locked(reason, false);
    }
    wake();
}

void BlkfrontDevice::disconnect(const std::string& reason) {
    std::unique_lock lock(mutex_);
    if (std::this_thread::get_id() == thread_.get_id()) {
        // From a callback: this thread is the one that would do it.
        if (ring_live_) {
            detach_reason_ = reason;
            detach_locked();
        }
        return;
    }
    if (!ring_live_) {
        // Failed already: the ring is not read any more, but the channel
        // is still open.
        if (channel_) {
            try {
                channel_.close();
            } catch (const std::exception& e) {
                spdlog::warn("blkfront {}: closing the event channel: {}", config_.name, e.what());
            }
        }
        return;
    }
    detach_reason_ = reason;
    detach_requested_ = true;
    lock.unlock();
    wake();
    lock.lock();
    detached_.wait(lock, [this] { return !ring_live_; });
}

bool BlkfrontDevice::serve_locked() {
    bool worked = false;
    if (ring_live_) {
        if (auto why = take_responses_locked(worked)) {
            fail_locked(*why, true);
            worked = true;
        }
    }
    if (!deferred_.empty()) {
        worked = retry_deferred_locked() || worked;
    }
    if (ring_live_ && !queued_.empty()) {
        worked = issue_queued_locked() || worked;
    }
    if (ring_live_ && detach_requested_) {
        detach_locked();
        worked = true;
    }
    return worked;
}

bool BlkfrontDevice::poll_for_work(Clock::time_point idle_since) {
    const Clock::time_point deadline = idle_since + poll_.window();
    while (Clock::now() < deadline) {
        for (int i = 0; i < 64; ++i) {
            // rsp_cons is only ever moved by this thread, so reading it here
            // without the lock is safe; rsp_prod is the shared index.
            if (ring_.unconsumed_responses() != 0 || local_work_.load(std::memory_order_acquire)) {
                return true;
            }
            cpu_relax();
        }
    }
    return false;
}

bool BlkfrontDevice::arm_or_find_work() {
    std::lock_guard lock(mutex_);
    if (!ready_.empty() || stopping_ || failure_unreported_ || (ring_live_ && detach_requested_)) {
        return true;
    }
    if (ring_live_ && !holding_ && !queued_.empty() && !ring_.full()) {
        return true;
    }
    // RING_FINAL_CHECK_FOR_RESPONSES: rsp_event = rsp_cons + 1, then look
    // once more, so a response pushed meanwhile is not slept through.
    return ring_live_ && ring_.final_check_for_responses();
}

void BlkfrontDevice::sleep() {
    int channel_fd = -1;
    bool timed = false;
    {
        std::lock_guard lock(mutex_);
        if (ring_live_) {
            channel_fd = channel_.fd();
        }
        timed = !deferred_.empty();
    }
    pollfd fds[2] = {{wake_.fd(), POLLIN, 0}, {channel_fd, POLLIN, 0}};
    while (::poll(fds, 2, timed ? kDeferredRetryMs : -1) < 0) {
        if (errno != EINTR) {
            spdlog::error("blkfront {}: poll: {}", config_.name, std::strerror(errno));
            std::this_thread::sleep_for(std::chrono::milliseconds(kDeferredRetryMs));
            break;
        }
    }
    wake_.try_consume();
    if ((fds[1].revents & POLLIN) != 0) {
        std::lock_guard lock(mutex_);
        if (ring_live_ && channel_.poll()) {
            received_.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

void BlkfrontDevice::run() {
    std::vector<std::shared_ptr<PendingIo>> done;
    Clock::time_point idle_since = Clock::now();
    for (;;) {
        bool worked = false;
        bool busy = false;
        bool stopping = false;
        std::optional<std::string> report;
        {
            std::lock_guard lock(mutex_);
            local_work_.store(false, std::memory_order_relaxed);
            worked = serve_locked();
            if (failure_unreported_) {
                failure_unreported_ = false;
                report = error_;
            }
            done.swap(ready_);
            busy = ring_live_ && shadow_.in_use() > 0;
            stopping = stopping_;
        }
        if (report && on_failure_) {
            try {
                on_failure_(*report);
            } catch (const std::exception& e) {
                spdlog::error("blkfront {}: failure handler: {}", config_.name, e.what());
            }
        }
        for (const std::shared_ptr<PendingIo>& io : done) {
            if (io->done) {
                try {
                    io->done(io->status);
                } catch (const std::exception& e) {
                    spdlog::error("blkfront {}: completion callback threw: {}", config_.name,
                                  e.what());
                }
            }
            in_flight_.fetch_sub(1, std::memory_order_acq_rel);
            worked = true;
        }
        done.clear();
        if (stopping) {
            return;
        }
        if (worked) {
            idle_since = Clock::now();
            continue;
        }
        poll_.set_max(std::chrono::nanoseconds(poll_max_ns_.load(std::memory_order_relaxed)));
        if (busy && poll_.enabled() && poll_for_work(idle_since)) {
            continue;
        }
        if (arm_or_find_work()) {
            continue;
        }
        sleep();
        if (busy) {
            poll_.record(Clock::now() - idle_since);
        }
    }
}

}  // namespace pvsim::frontend::blkfront
