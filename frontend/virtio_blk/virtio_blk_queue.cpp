#include "frontend/virtio_blk/virtio_blk_queue.hpp"

#include <poll.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::frontend::virtio_blk {
namespace {

// A request slot: the header (16 bytes), the discard range (16), the
// status byte, padded to a cache line.
constexpr std::size_t kSlotBytes = 64;
constexpr std::size_t kHeaderOffset = 0;
constexpr std::size_t kDiscardOffset = 16;
constexpr std::size_t kStatusOffset = 32;
constexpr std::size_t kSlotsPerPage = kPageSize / kSlotBytes;
static_assert(sizeof(virtio::VirtioBlkOutHdr) <= kDiscardOffset - kHeaderOffset);
static_assert(sizeof(virtio::VirtioBlkDiscardWriteZeroes) <= kStatusOffset - kDiscardOffset);

// Written before the device sees the request: a device that completes it
// without writing its status leaves a value no status has, read as -EIO.
constexpr std::uint8_t kStatusUnset = 0xff;

}  // namespace

VirtioBlkQueue::VirtioBlkQueue(hypervisor::DomainMemory& memory, QueueConfig config,
                               FailureHandler on_failure)
    : memory_(memory),
      config_(std::move(config)),
      on_failure_(std::move(on_failure)),
      vq_(memory,
          VirtqueueDriver::Options{
              .queue_size = config_.queue_size,
              .event_idx = virtio::has_feature(config_.disk.features, virtio::Feature::event_idx),
              .indirect_desc =
                  virtio::has_feature(config_.disk.features, virtio::Feature::indirect_desc)}),
      slots_(vq_.size()),
      poll_(config_.poll) {
    for (std::size_t i = 0; i < (vq_.size() + kSlotsPerPage - 1) / kSlotsPerPage; ++i) {
        slot_pages_.emplace_back(memory_);
    }
    free_tokens_.reserve(vq_.size());
    for (std::uint32_t token = vq_.size(); token-- > 0;) {
        free_tokens_.push_back(token);  // lowest on top
    }
}

VirtioBlkQueue::~VirtioBlkQueue() {
    fail("device closed");
    stop();
}

void VirtioBlkQueue::start() {
    if (!thread_.joinable()) {
        thread_ = std::thread([this] { run(); });
    }
}

std::byte* VirtioBlkQueue::slot_bytes(std::uint32_t token) const {
    return slot_pages_[token / kSlotsPerPage].bytes().data() + (token % kSlotsPerPage) * kSlotBytes;
}

std::uint64_t VirtioBlkQueue::slot_gpa(std::uint32_t token, std::size_t offset) const {
    return slot_pages_[token / kSlotsPerPage].gpa((token % kSlotsPerPage) * kSlotBytes + offset);
}

bool VirtioBlkQueue::failed() const {
    std::lock_guard lock(mutex_);
    return !live_;
}

std::string VirtioBlkQueue::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

VirtioBlkCounters VirtioBlkQueue::counters() const {
    VirtioBlkCounters c;
    c.requests = requests_.load(std::memory_order_relaxed);
    c.completions = completions_.load(std::memory_order_relaxed);
    c.bytes = bytes_.load(std::memory_order_relaxed);
    c.flushes = flushes_.load(std::memory_order_relaxed);
    c.discards = discards_.load(std::memory_order_relaxed);
    c.notifications_sent = sent_.load(std::memory_order_relaxed);
    c.notifications_suppressed = suppressed_.load(std::memory_order_relaxed);
    c.notifications_received = received_.load(std::memory_order_relaxed);
    c.indirect_requests = indirect_.load(std::memory_order_relaxed);
    c.data_copies = 0;
    c.queues = 1;
    return c;
}

void VirtioBlkQueue::wake() {
    local_work_.store(true, std::memory_order_release);
    wake_.signal();
}

// ---------------------------------------------------------------------------
// Submission

void VirtioBlkQueue::submit(std::span<BlockRequest> batch) {
    const bool on_completion_thread = std::this_thread::get_id() == thread_.get_id();
    std::unique_lock lock(mutex_);
    const std::size_t ready_before = ready_.size();
    in_flight_.fetch_add(batch.size(), std::memory_order_acq_rel);
    const DiskConfig& disk = config_.disk;
    for (BlockRequest& request : batch) {
        auto io = std::make_shared<PendingIo>();
        io->done = std::move(request.done);
        int status = 0;
        std::vector<VirtioBlkRequestPlan> plans;
        if (!accepting_) {
            status = -ENODEV;
        } else if (request.operation == BlockOperation::discard && !disk.discard) {
            status = -EOPNOTSUPP;
        } else {
            try {
                plans = plan_requests(request, disk.limits);
            } catch (const std::invalid_argument& e) {
                spdlog::warn("{}: request refused: {}", config_.name, e.what());
                status = -EINVAL;
            }
            if (status == 0 && request.operation != BlockOperation::flush) {
                const std::uint64_t sectors = request.operation == BlockOperation::discard
                                                  ? request.discard_sectors
                                                  : request.buffer->length / virtio::kSectorSize;
                if (request.sector > disk.capacity || sectors > disk.capacity - request.sector) {
                    spdlog::warn("{}: sectors {}+{} lie past the end ({} sectors)", config_.name,
                                 request.sector, sectors, disk.capacity);
                    status = -EIO;
                }
            }
            if (status != 0 || (request.operation == BlockOperation::flush && !disk.flush)) {
                plans.clear();
            }
        }
        if (plans.empty()) {
            io->status = status;
            ready_.push_back(std::move(io));
            continue;
        }
        io->outstanding = static_cast<unsigned>(plans.size());
        for (VirtioBlkRequestPlan& plan : plans) {
            issue_locked(lock, std::move(plan), io, on_completion_thread);
        }
    }
    kick_locked();
    if (joined_) {
        // Stopped: no completion thread will run these.
        std::vector<std::shared_ptr<PendingIo>> done;
        done.swap(ready_);
        lock.unlock();
        run_callbacks(done);
        return;
    }
    if (ready_.size() != ready_before || !queued_.empty()) {
        lock.unlock();
        wake();
    }
}

void VirtioBlkQueue::issue_locked(std::unique_lock<std::mutex>& lock, VirtioBlkRequestPlan plan,
                                  const std::shared_ptr<PendingIo>& io, bool on_completion_thread) {
    for (;;) {
        if (!accepting_) {
            finish_part_locked(io, -ENODEV);
            return;
        }
        if (queued_.empty() && put_on_queue_locked(plan, io)) {
            return;
        }
        // Let the device see what is there before waiting for it.
        kick_locked();
        if (on_completion_thread) {
            queued_.push_back(Queued{std::move(plan), io});
            return;
        }
        if (!queued_.empty()) {
            // Only the completion thread's queue is ahead of us: it issues
            // that as room frees, and so may we.
            if (put_on_queue_locked(plan, io)) {
                return;
            }
        }
        space_.wait(lock);
    }
}

bool VirtioBlkQueue::put_on_queue_locked(const VirtioBlkRequestPlan& plan,
                                         const std::shared_ptr<PendingIo>& io) {
    if (free_tokens_.empty()) {
        return false;
    }
    const std::uint32_t token = free_tokens_.back();
    std::byte* slot = slot_bytes(token);
    const virtio::VirtioBlkOutHdr header{
        .type = static_cast<std::uint32_t>(plan.type), .ioprio = 0, .sector = plan.sector};
    std::memcpy(slot + kHeaderOffset, &header, sizeof(header));
    slot[kStatusOffset] = std::byte{kStatusUnset};

    // §5.2.6: header (device-readable), data, status (device-writable).
    VirtqBuffer chain[VirtqueueDriver::kMaxIndirectDescriptors];
    std::size_t n = 0;
    chain[n++] = VirtqBuffer{.addr = slot_gpa(token, kHeaderOffset),
                             .len = sizeof(virtio::VirtioBlkOutHdr),
                             .device_writable = false};
    if (plan.type == virtio::BlkReqType::discard) {
        const virtio::VirtioBlkDiscardWriteZeroes range{
            .sector = plan.sector, .num_sectors = plan.discard_sectors, .flags = 0};
        std::memcpy(slot + kDiscardOffset, &range, sizeof(range));
        chain[n++] = VirtqBuffer{.addr = slot_gpa(token, kDiscardOffset),
                                 .len = sizeof(range),
                                 .device_writable = false};
    }
    const bool device_writes = plan.type == virtio::BlkReqType::in;
    for (const DataSegment& segment : plan.data) {
        chain[n++] =
            VirtqBuffer{.addr = segment.gpa, .len = segment.len, .device_writable = device_writes};
    }
    chain[n++] =
        VirtqBuffer{.addr = slot_gpa(token, kStatusOffset), .len = 1, .device_writable = true};

    VirtqueueDriver::AddResult added;
    try {
        added = vq_.add(std::span<const VirtqBuffer>(chain, n), token);
    } catch (const std::bad_alloc&) {
        spdlog::warn("{}: no guest memory for an indirect table; request fails with ENOMEM",
                     config_.name);
        finish_part_locked(io, -ENOMEM);
        return true;
    }
    if (added == VirtqueueDriver::AddResult::no_room) {
        return false;
    }
    free_tokens_.pop_back();
    slots_[token] = Slot{.io = io, .type = plan.type};
    requests_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(plan.data_bytes(), std::memory_order_relaxed);
    if (added == VirtqueueDriver::AddResult::indirect) {
        indirect_.fetch_add(1, std::memory_order_relaxed);
    }
    if (plan.type == virtio::BlkReqType::flush) {
        flushes_.fetch_add(1, std::memory_order_relaxed);
    } else if (plan.type == virtio::BlkReqType::discard) {
        discards_.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

void VirtioBlkQueue::kick_locked() {
    if (!live_) {
        return;
    }
    const bool added = vq_.pending_kick() != 0;
    if (!vq_.kick_prepare()) {
        if (added) {
            suppressed_.fetch_add(1, std::memory_order_relaxed);
        }
        return;
    }
    kick_.signal();  // virtqueue_notify: the device's kick eventfd
    sent_.fetch_add(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Completion

void VirtioBlkQueue::finish_part_locked(const std::shared_ptr<PendingIo>& io, int status) {
    if (io->finish_part(status)) {
        ready_.push_back(io);
    }
}

bool VirtioBlkQueue::take_used_locked() {
    bool worked = false;
    for (;;) {
        std::optional<UsedBuffer> used;
        try {
            used = vq_.get_used();
        } catch (const VirtqueueError& e) {
            fail_locked(config_.name + ": " + e.what(), true);
            return true;
        }
        if (!used) {
            break;
        }
        Slot slot = std::exchange(slots_[used->token], Slot{});
        free_tokens_.push_back(used->token);
        completions_.fetch_add(1, std::memory_order_relaxed);
        const auto status_byte = std::to_integer<std::uint8_t>(
            std::atomic_ref<std::byte>(slot_bytes(used->token)[kStatusOffset])
                .load(std::memory_order_relaxed));
        const int status = status_errno(status_byte);
        if (status != 0) {
            spdlog::debug("{}: {} answered status {}", config_.name, virtio::name(slot.type),
                          static_cast<int>(status_byte));
        }
        finish_part_locked(slot.io, status);
        worked = true;
    }
    if (worked) {
        space_.notify_all();
        if (vq_.in_flight() == 0) {
            idle_.notify_all();
        }
    }
    return worked;
}

bool VirtioBlkQueue::issue_queued_locked() {
    bool issued = false;
    while (!queued_.empty() && accepting_) {
        if (!put_on_queue_locked(queued_.front().plan, queued_.front().io)) {
            break;
        }
        queued_.pop_front();
        issued = true;
    }
    if (issued) {
        kick_locked();
    }
    return issued;
}

void VirtioBlkQueue::stop_accepting_locked(const std::string& reason) {
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

void VirtioBlkQueue::fail_locked(const std::string& reason, bool report) {
    if (!live_) {
        return;
    }
    if (report) {
        spdlog::error("{}; device disabled for further use", reason);
    }
    live_ = false;
    stop_accepting_locked(reason);
    error_ = reason;
    for (std::uint32_t token = 0; token < slots_.size(); ++token) {
        if (slots_[token].io) {
            finish_part_locked(slots_[token].io, -ENODEV);
            slots_[token] = Slot{};
        }
    }
    failure_unreported_ = report;
    idle_.notify_all();
}

void VirtioBlkQueue::stop_accepting(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        stop_accepting_locked(reason);
    }
    wake();
}

bool VirtioBlkQueue::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return !live_ || vq_.in_flight() == 0; });
}

void VirtioBlkQueue::fail(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        fail_locked(reason, false);
    }
    wake();
}

void VirtioBlkQueue::stop() {
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake();
        thread_.join();
    }
    // No completion thread from here on: callbacks still due run here, and
    // those of later submits in submit() itself.
    std::vector<std::shared_ptr<PendingIo>> done;
    {
        std::lock_guard lock(mutex_);
        joined_ = true;
        done.swap(ready_);
    }
    run_callbacks(done);
}

void VirtioBlkQueue::run_callbacks(std::vector<std::shared_ptr<PendingIo>>& done) {
    for (const std::shared_ptr<PendingIo>& io : done) {
        if (io->done) {
            try {
                io->done(io->status);
            } catch (const std::exception& e) {
                spdlog::error("{}: completion callback threw: {}", config_.name, e.what());
            }
        }
        in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    }
    done.clear();
}

bool VirtioBlkQueue::poll_for_work(Clock::time_point idle_since) {
    const Clock::time_point deadline = idle_since + poll_.window();
    while (Clock::now() < deadline) {
        for (int i = 0; i < 64; ++i) {
            // last_used only moves on this thread, so no lock is needed to
            // compare it with the shared used idx.
            if (vq_.more_used() || local_work_.load(std::memory_order_acquire)) {
                return true;
            }
            cpu_relax();
        }
    }
    return false;
}

bool VirtioBlkQueue::arm_or_find_work() {
    std::lock_guard lock(mutex_);
    if (!ready_.empty() || stopping_ || failure_unreported_) {
        return true;
    }
    if (!live_) {
        return false;
    }
    if (!queued_.empty() && accepting_ && vq_.free_descriptors() > 0) {
        return true;
    }
    // virtqueue_enable_cb: used_event = last_used, full barrier, look again.
    return !vq_.enable_notifications();
}

void VirtioBlkQueue::sleep() {
    pollfd fds[3] = {
        {wake_.fd(), POLLIN, 0}, {call_.fd(), POLLIN, 0}, {config_.hangup_fd, POLLRDHUP, 0}};
    {
        std::lock_guard lock(mutex_);
        if (!live_) {
            fds[1].fd = -1;
            fds[2].fd = -1;
        }
    }
    while (::poll(fds, 3, -1) < 0) {
        if (errno != EINTR) {
            spdlog::error("{}: poll: {}", config_.name, std::strerror(errno));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            break;
        }
    }
    wake_.try_consume();
    if ((fds[1].revents & POLLIN) != 0 && call_.try_consume() != 0) {
        received_.fetch_add(1, std::memory_order_relaxed);
    }
    std::lock_guard lock(mutex_);
    if ((fds[2].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) {
        fail_locked(config_.name + ": the vhost-user device closed the connection", true);
    }
    if (live_) {
        // Awake now: the device need not notify while this thread works and
        // polls.
        vq_.disable_notifications();
    }
}

void VirtioBlkQueue::run() {
    std::vector<std::shared_ptr<PendingIo>> done;
    Clock::time_point idle_since = Clock::now();
    {
        std::lock_guard lock(mutex_);
        if (live_) {
            vq_.disable_notifications();
        }
    }
    for (;;) {
        bool worked = false;
        bool busy = false;
        bool stopping = false;
        std::optional<std::string> report;
        {
            std::lock_guard lock(mutex_);
            local_work_.store(false, std::memory_order_relaxed);
            if (live_) {
                worked = take_used_locked();
                if (live_ && !queued_.empty()) {
                    worked = issue_queued_locked() || worked;
                }
            }
            if (failure_unreported_) {
                failure_unreported_ = false;
                report = error_;
            }
            done.swap(ready_);
            busy = live_ && vq_.in_flight() > 0;
            stopping = stopping_;
        }
        if (report && on_failure_) {
            try {
                on_failure_(*report);
            } catch (const std::exception& e) {
                spdlog::error("{}: failure handler: {}", config_.name, e.what());
            }
        }
        if (!done.empty()) {
            run_callbacks(done);
            worked = true;
        }
        if (stopping) {
            return;
        }
        if (worked) {
            idle_since = Clock::now();
            continue;
        }
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

}  // namespace pvsim::frontend::virtio_blk
