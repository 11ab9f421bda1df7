#include "backend/vhost_user_blk/queue_worker.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::backend::vhost_user_blk {
namespace {

using Clock = std::chrono::steady_clock;
using virtio::BlkReqType;
using virtio::BlkStatus;

}  // namespace

QueueWorker::QueueWorker(const QueueContext& context, QueueStart start, std::string name)
    : context_(context),
      name_(std::move(name)),
      ring_(start.ring),
      memory_(std::move(start.memory)),
      kick_(std::move(start.kick)),
      call_(std::move(start.call)),
      features_(start.features),
      chain_limits_{
          .indirect = virtio::has_feature(start.features, virtio::Feature::indirect_desc),
          .max_descriptors = start.ring.size(),
          // The data, the header and the status byte.
          .max_bytes =
              context.config.limits().max_request_bytes + sizeof(virtio::VirtioBlkOutHdr) + 1,
      },
      poll_(context.poll_max) {
    storage::EngineOptions engine_options;
    engine_options.kind = context.engine;
    engine_options.queue_depth = ring_.size();
    engine_ = storage::make_engine(context.store.io_target(), engine_options);
    pending_.resize(ring_.size());
    free_.reserve(ring_.size());
    for (std::uint32_t i = ring_.size(); i > 0; --i) {
        free_.push_back(i - 1);
    }
    thread_ = std::thread([this] { run(); });
}

QueueWorker::~QueueWorker() {
    stop();
}

std::uint16_t QueueWorker::stop() {
    if (thread_.joinable()) {
        stop_requested_.store(true, std::memory_order_release);
        stop_event_.signal();
        thread_.join();
        final_avail_idx_ = ring_.last_avail_idx();
    }
    return final_avail_idx_;
}

void QueueWorker::run() noexcept {
    try {
        loop();
        return;
    } catch (const std::exception& e) {
        break_queue(std::string("the queue loop failed: ") + e.what());
    }
    // Whatever is still in flight finishes before the buffers may go.
    try {
        while (engine_->in_flight() != 0) {
            pollfd entry{engine_->completion_fd(), POLLIN, 0};
            if (::poll(&entry, 1, -1) < 0 && errno != EINTR) {
                break;
            }
            engine_->reap([](const storage::IoCompletion&) {});
        }
    } catch (const std::exception& e) {
        spdlog::error("{}: draining after a failure: {}", name_, e.what());
    }
    while (!stop_requested_.load(std::memory_order_acquire)) {
        pollfd entry{stop_event_.fd(), POLLIN, 0};
        if (::poll(&entry, 1, -1) < 0 && errno != EINTR) {
            return;
        }
        (void)stop_event_.try_consume();
    }
}

void QueueWorker::loop() {
    // A kick sent before the queue started is stale: the first pass looks
    // at the ring anyway.
    (void)kick_->try_consume();
    for (;;) {
        bool worked = reap_completions();
        if (serving()) {
            worked = take_requests() || worked;
        }
        publish_used();
        if (stop_requested_.load(std::memory_order_acquire) && engine_->in_flight() == 0) {
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

bool QueueWorker::has_work() const noexcept {
    if (engine_->has_completions() || stop_requested_.load(std::memory_order_relaxed)) {
        return true;
    }
    return serving() && !free_.empty() && ring_.has_available();
}

bool QueueWorker::take_requests() {
    std::string why;
    const std::optional<std::uint16_t> available = ring_.available(why);
    if (!available) {
        break_queue(why);
        return false;
    }
    bool took = false;
    for (std::uint16_t n = *available; n > 0 && !free_.empty() && !engine_->full(); --n) {
        const std::optional<std::uint16_t> head = ring_.take_head(why);
        if (!head) {
            break_queue(why);
            break;
        }
        took = true;
        take_one(*head);
    }
    if (took) {
        engine_->flush_submissions();
    }
    return took;
}

void QueueWorker::take_one(std::uint16_t head) {
    DeviceMetrics& m = context_.metrics;
    const std::string walk_error = walk_chain(ring_.view(), *memory_, head, chain_limits_, chain_);
    if (!walk_error.empty()) {
        // Nothing in the chain can be trusted, the status byte included: it
        // goes back with nothing written (used len 0).
        spdlog::warn("{}: malformed descriptor chain at head {}: {}", name_, head, walk_error);
        DeviceMetrics::add(m.malformed_chains);
        ring_.add_used(head, 0);
        return;
    }
    const std::uint32_t slot = free_.back();
    Pending& p = pending_[slot];
    p.head = head;
    p.flush_stage = false;
    const ParseResult parsed =
        parse_request(chain_, context_.config.limits(), features_, p.request);
    if (parsed.disposition == Disposition::drop) {
        spdlog::warn("{}: malformed request at head {}: {}", name_, head, parsed.reason);
        DeviceMetrics::add(m.malformed_chains);
        ring_.add_used(head, 0);
        return;
    }
    if (chain_.indirect) {
        DeviceMetrics::add(m.indirect_requests);
    }
    switch (p.request.req_type()) {
        case BlkReqType::in:
            DeviceMetrics::add(m.reads);
            break;
        case BlkReqType::out:
            DeviceMetrics::add(m.writes);
            break;
        case BlkReqType::flush:
            DeviceMetrics::add(m.flushes);
            break;
        case BlkReqType::get_id:
            DeviceMetrics::add(m.get_ids);
            break;
        case BlkReqType::discard:
            DeviceMetrics::add(m.discards);
            break;
        case BlkReqType::write_zeroes:
            DeviceMetrics::add(m.write_zeroes);
            break;
        default:
            DeviceMetrics::add(m.other_types);
            break;
    }
    if (parsed.disposition == Disposition::answer) {
        spdlog::debug("{}: request at head {}: {}: {}", name_, head, virtio::name(parsed.status),
                      parsed.reason);
        write_status(p.request.status, parsed.status);
        count_status(parsed.status);
        ring_.add_used(head, 1);
        return;
    }
    if (p.request.req_type() == BlkReqType::get_id) {
        // VIRTIO_BLK_ID_BYTES at most, NUL-padded when there is room.
        char id[virtio::kBlkIdBytes] = {};
        const std::string& serial = context_.config.serial();
        std::memcpy(id, serial.data(), std::min(serial.size(), sizeof(id)));
        const std::size_t written = copy_to_data(p.request, id, sizeof(id));
        write_status(p.request.status, BlkStatus::ok);
        ring_.add_used(head, static_cast<std::uint32_t>(written + 1));
        return;
    }
    free_.pop_back();
    if (!submit(slot)) {
        // Cannot happen with one engine slot per queue entry; answer rather
        // than lose the request if it ever does.
        spdlog::error("{}: request at head {}: the I/O engine refused it", name_, head);
        complete(slot, BlkStatus::ioerr, 1);
    }
}

bool QueueWorker::submit(std::uint32_t slot) {
    Pending& p = pending_[slot];
    const BlkRequest& r = p.request;
    if (p.flush_stage) {
        return engine_->submit_flush(slot);
    }
    switch (r.req_type()) {
        case BlkReqType::in:
            return engine_->submit_read(slot, r.offset(), r.data);
        case BlkReqType::out:
            return engine_->submit_write(slot, r.offset(), r.data);
        case BlkReqType::flush:
            return engine_->submit_flush(slot);
        case BlkReqType::discard:
            return engine_->submit_discard(
                slot, r.range.sector * virtio::kSectorSize,
                std::uint64_t{r.range.num_sectors} * virtio::kSectorSize);
        case BlkReqType::write_zeroes:
            return engine_->submit_write_zeroes(
                slot, r.range.sector * virtio::kSectorSize,
                std::uint64_t{r.range.num_sectors} * virtio::kSectorSize,
                (r.range.flags & virtio::kBlkWriteZeroesFlagUnmap) != 0);
        default:
            return false;
    }
}

bool QueueWorker::reap_completions() {
    if (!engine_->has_completions()) {
        return false;
    }
    resubmitted_ = false;
    const std::size_t reaped =
        engine_->reap([this](const storage::IoCompletion& c) { on_completion(c); });
    if (resubmitted_) {
        engine_->flush_submissions();
    }
    return reaped != 0;
}

void QueueWorker::on_completion(const storage::IoCompletion& completion) {
    const auto slot = static_cast<std::uint32_t>(completion.tag);
    Pending& p = pending_[slot];
    const BlkRequest& r = p.request;
    const bool transfer =
        !p.flush_stage && (r.req_type() == BlkReqType::in || r.req_type() == BlkReqType::out);
    const std::int64_t expected = transfer ? static_cast<std::int64_t>(r.data_bytes) : 0;
    if (completion.result != expected) {
        if (completion.result == -EOPNOTSUPP &&
            (r.req_type() == BlkReqType::discard || r.req_type() == BlkReqType::write_zeroes)) {
            complete(slot, BlkStatus::unsupp, 1);
            return;
        }
        if (completion.result < 0) {
            spdlog::warn("{}: request at head {} ({}): {}", name_, p.head,
                         virtio::name(r.req_type()),
                         std::strerror(static_cast<int>(-completion.result)));
        } else {
            spdlog::warn("{}: request at head {} ({}): {} of {} bytes", name_, p.head,
                         virtio::name(r.req_type()), completion.result, expected);
        }
        complete(slot, BlkStatus::ioerr, 1);
        return;
    }
    if (r.req_type() == BlkReqType::in) {
        DeviceMetrics::add(context_.metrics.bytes_read, r.data_bytes);
        complete(slot, BlkStatus::ok, static_cast<std::uint32_t>(r.data_bytes + 1));
        return;
    }
    if (r.req_type() == BlkReqType::out && !p.flush_stage) {
        DeviceMetrics::add(context_.metrics.bytes_written, r.data_bytes);
        if (!context_.writeback.load(std::memory_order_relaxed)) {
            // Writethrough (wce = 0): the write is returned once on stable
            // storage, as QEMU's virtio-blk does with the cache off.
            p.flush_stage = true;
            if (engine_->submit_flush(slot)) {
                resubmitted_ = true;
                return;
            }
            complete(slot, BlkStatus::ioerr, 1);
            return;
        }
    }
    complete(slot, BlkStatus::ok, 1);
}

void QueueWorker::complete(std::uint32_t slot, BlkStatus status, std::uint32_t used_len) {
    Pending& p = pending_[slot];
    write_status(p.request.status, status);
    count_status(status);
    ring_.add_used(p.head, used_len);
    free_.push_back(slot);
}

void QueueWorker::count_status(BlkStatus status) {
    if (status == BlkStatus::ioerr) {
        DeviceMetrics::add(context_.metrics.errors);
    } else if (status == BlkStatus::unsupp) {
        DeviceMetrics::add(context_.metrics.unsupported);
    }
}

void QueueWorker::publish_used() {
    if (!ring_.has_unpublished_used()) {
        return;
    }
    if (ring_.flush_used() && call_->notify()) {
        DeviceMetrics::add(context_.metrics.notifications_sent);
    } else {
        DeviceMetrics::add(context_.metrics.notifications_suppressed);
    }
}

bool QueueWorker::poll_for_work() {
    poll_start_ = Clock::now();
    if (!poll_.enabled() || poll_.window() == AdaptivePoll::Duration::zero()) {
        return false;
    }
    // No kicks while polling (the driver saves a system call each request).
    if (serving()) {
        ring_.disable_notify();
    }
    const Clock::time_point deadline = poll_start_ + poll_.window();
    for (;;) {
        if (has_work()) {
            poll_.record(Clock::now() - poll_start_);
            DeviceMetrics::add(context_.metrics.poll_hits);
            return true;
        }
        if (Clock::now() >= deadline) {
            return false;
        }
        cpu_relax();
    }
}

void QueueWorker::sleep() {
    // Kicks are worth waiting for only while requests can be taken.
    const bool armed = serving() && !free_.empty();
    if (armed && ring_.enable_notify()) {
        return;
    }
    if (engine_->has_completions()) {
        return;
    }
    pollfd fds[3] = {
        {engine_->completion_fd(), POLLIN, 0},
        {stop_event_.fd(), POLLIN, 0},
        {kick_->fd(), POLLIN, 0},
    };
    const nfds_t count = armed ? 3 : 2;
    DeviceMetrics::add(context_.metrics.sleeps);
    while (::poll(fds, count, -1) < 0) {
        if (errno != EINTR) {
            os::throw_system_error("poll (vhost-user-blk queue " + name_ + ")");
        }
    }
    poll_.record(Clock::now() - poll_start_);
    if (armed && (fds[2].revents & POLLIN) != 0 && kick_->try_consume() != 0) {
        DeviceMetrics::add(context_.metrics.kicks_received);
    }
    if ((fds[1].revents & POLLIN) != 0) {
        (void)stop_event_.try_consume();
    }
}

void QueueWorker::break_queue(const std::string& reason) {
    if (broken_.exchange(true, std::memory_order_acq_rel)) {
        return;
    }
    DeviceMetrics::add(context_.metrics.broken_queues);
    spdlog::error("{}: queue broken, no more requests taken: {}", name_, reason);
}

}  // namespace pvsim::backend::vhost_user_blk
