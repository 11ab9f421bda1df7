#include "backend/vhost_user_blk/queue_worker.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "backend/data_plane/pass_budget.hpp"

namespace pvsim::backend::vhost_user_blk {
namespace {

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
      loop_(*this, context.store,
            data_plane::LoopOptions{.poll_max = context.poll_max,
                                    .contention = {},
                                    .engine = context.engine,
                                    // One engine slot per queue entry.
                                    .queue_depth = start.ring.size()},
            data_plane::LoopCounters{
                .notifications_received =
                    [&m = context.metrics] { m.add(&DeviceCounters::kicks_received); },
                .poll_hits = [&m = context.metrics] { m.add(&DeviceCounters::poll_hits); },
                .sleeps = [&m = context.metrics] { m.add(&DeviceCounters::sleeps); },
                .events_armed = [&m = context.metrics] { m.add(&DeviceCounters::events_armed); },
                // QEMU's virtqueue ioeventfd takes no event late (no late EOI).
                .spurious_events = {}},
            name_) {
    pending_.resize(ring_.size());
    free_.reserve(ring_.size());
    for (std::uint32_t i = ring_.size(); i > 0; --i) {
        free_.push_back(i - 1);
    }
    loop_.start();
}

QueueWorker::~QueueWorker() {
    stop();
}

std::uint16_t QueueWorker::stop() {
    if (loop_.stop()) {
        final_avail_idx_ = ring_.last_avail_idx();
    }
    return final_avail_idx_;
}

data_plane::Arm QueueWorker::arm_and_recheck() {
    // Kicks are worth waiting for only while requests can be taken.
    if (free_.empty()) {
        return data_plane::Arm::not_armed;
    }
    return ring_.enable_notify() ? data_plane::Arm::work_found : data_plane::Arm::armed;
}

bool QueueWorker::take_requests() {
    std::string why;
    const std::optional<std::uint16_t> available = ring_.available(why);
    if (!available) {
        break_queue(why);
        return false;
    }
    bool took = false;
    storage::IoEngine& engine = loop_.engine();
    data_plane::PassBudget budget;
    for (std::uint16_t n = *available; n > 0 && !free_.empty() && !engine.full() && !budget.spent();
         --n) {
        const std::optional<std::uint16_t> head = ring_.take_head(why);
        if (!head) {
            break_queue(why);
            break;
        }
        took = true;
        budget.spend(take_one(*head));
    }
    if (took) {
        engine.flush_submissions();
    }
    return took;
}

std::uint64_t QueueWorker::take_one(std::uint16_t head) {
    LiveCounters<DeviceCounters>& m = context_.metrics;
    const std::string walk_error = walk_chain(ring_.view(), *memory_, head, chain_limits_, chain_);
    if (!walk_error.empty()) {
        // Nothing in the chain can be trusted, the status byte included: it
        // goes back with nothing written (used len 0).
        spdlog::warn("{}: malformed descriptor chain at head {}: {}", name_, head, walk_error);
        m.add(&DeviceCounters::malformed_chains);
        ring_.add_used(head, 0);
        return 0;
    }
    const std::uint32_t slot = free_.back();
    Pending& p = pending_[slot];
    p.head = head;
    p.flush_stage = false;
    const ParseResult parsed =
        parse_request(chain_, context_.config.limits(), features_, p.request);
    if (parsed.disposition == Disposition::drop) {
        spdlog::warn("{}: malformed request at head {}: {}", name_, head, parsed.reason);
        m.add(&DeviceCounters::malformed_chains);
        ring_.add_used(head, 0);
        return 0;
    }
    if (chain_.indirect) {
        m.add(&DeviceCounters::indirect_requests);
    }
    switch (p.request.req_type()) {
        case BlkReqType::in:
            m.add(&DeviceCounters::reads);
            break;
        case BlkReqType::out:
            m.add(&DeviceCounters::writes);
            break;
        case BlkReqType::flush:
            m.add(&DeviceCounters::flushes);
            break;
        case BlkReqType::get_id:
            m.add(&DeviceCounters::get_ids);
            break;
        case BlkReqType::discard:
            m.add(&DeviceCounters::discards);
            break;
        case BlkReqType::write_zeroes:
            m.add(&DeviceCounters::write_zeroes);
            break;
        default:
            m.add(&DeviceCounters::other_types);
            break;
    }
    if (parsed.disposition == Disposition::answer) {
        spdlog::debug("{}: request at head {}: {}: {}", name_, head, virtio::name(parsed.status),
                      parsed.reason);
        write_status(p.request.status, parsed.status);
        count_status(parsed.status);
        ring_.add_used(head, 1);
        return 0;
    }
    if (p.request.req_type() == BlkReqType::get_id) {
        // VIRTIO_BLK_ID_BYTES at most, NUL-padded when there is room.
        char id[virtio::kBlkIdBytes] = {};
        const std::string& serial = context_.config.serial();
        std::memcpy(id, serial.data(), std::min(serial.size(), sizeof(id)));
        const std::size_t written = copy_to_data(p.request, id, sizeof(id));
        write_status(p.request.status, BlkStatus::ok);
        ring_.add_used(head, static_cast<std::uint32_t>(written + 1));
        return 0;
    }
    free_.pop_back();
    if (!submit(slot)) {
        // Cannot happen with one engine slot per queue entry; answer rather
        // than lose the request if it ever does.
        spdlog::error("{}: request at head {}: the I/O engine refused it", name_, head);
        complete(slot, BlkStatus::ioerr, 1);
        return 0;
    }
    return static_cast<std::uint64_t>(expect(slot).bytes);
}

bool QueueWorker::submit(std::uint32_t slot) {
    Pending& p = pending_[slot];
    storage::IoEngine& engine = loop_.engine();
    const BlkRequest& r = p.request;
    if (p.flush_stage) {
        return engine.submit_flush(slot);
    }
    switch (r.req_type()) {
        case BlkReqType::in:
            return engine.submit_read(slot, r.offset(), r.data);
        case BlkReqType::out:
            return engine.submit_write(slot, r.offset(), r.data);
        case BlkReqType::flush:
            return engine.submit_flush(slot);
        case BlkReqType::discard:
            return engine.submit_discard(slot, r.range.sector * virtio::kSectorSize,
                                         std::uint64_t{r.range.num_sectors} * virtio::kSectorSize);
        case BlkReqType::write_zeroes:
            return engine.submit_write_zeroes(
                slot, r.range.sector * virtio::kSectorSize,
                std::uint64_t{r.range.num_sectors} * virtio::kSectorSize,
                (r.range.flags & virtio::kBlkWriteZeroesFlagUnmap) != 0);
        default:
            return false;
    }
}

data_plane::IoExpectation QueueWorker::expect(std::uint32_t slot) const noexcept {
    const Pending& p = pending_[slot];
    const BlkReqType type = p.request.req_type();
    const bool transfer = !p.flush_stage && (type == BlkReqType::in || type == BlkReqType::out);
    return {.bytes = transfer ? static_cast<std::int64_t>(p.request.data_bytes) : 0,
            .may_be_unsupported = type == BlkReqType::discard || type == BlkReqType::write_zeroes};
}

bool QueueWorker::stage_done(std::uint32_t slot) {
    Pending& p = pending_[slot];
    const BlkRequest& r = p.request;
    if (r.req_type() == BlkReqType::in) {
        context_.metrics.add(&DeviceCounters::bytes_read, r.data_bytes);
        return false;
    }
    if (r.req_type() != BlkReqType::out || p.flush_stage) {
        return false;
    }
    context_.metrics.add(&DeviceCounters::bytes_written, r.data_bytes);
    if (context_.writeback.load(std::memory_order_relaxed)) {
        return false;
    }
    // Writethrough (wce = 0): the write is returned once on stable storage,
    // as QEMU's virtio-blk does with the cache off.
    p.flush_stage = true;
    return true;
}

void QueueWorker::complete(std::uint32_t slot, data_plane::IoOutcome outcome) {
    switch (outcome) {
        case data_plane::IoOutcome::ok: {
            const BlkRequest& r = pending_[slot].request;
            // A read returns its data and the status byte.
            complete(
                slot, BlkStatus::ok,
                r.req_type() == BlkReqType::in ? static_cast<std::uint32_t>(r.data_bytes + 1) : 1);
            return;
        }
        case data_plane::IoOutcome::unsupported:
            complete(slot, BlkStatus::unsupp, 1);
            return;
        case data_plane::IoOutcome::error:
            complete(slot, BlkStatus::ioerr, 1);
            return;
    }
}

std::string QueueWorker::describe(std::uint32_t slot) const {
    const Pending& p = pending_[slot];
    return "request at head " + std::to_string(p.head) + " (" +
           std::string(virtio::name(p.request.req_type())) + ")";
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
        context_.metrics.add(&DeviceCounters::errors);
    } else if (status == BlkStatus::unsupp) {
        context_.metrics.add(&DeviceCounters::unsupported);
    }
}

void QueueWorker::publish() {
    if (!ring_.has_unpublished_used()) {
        return;
    }
    if (ring_.flush_used() && call_->notify()) {
        context_.metrics.add(&DeviceCounters::notifications_sent);
    } else {
        context_.metrics.add(&DeviceCounters::notifications_suppressed);
    }
}

void QueueWorker::on_failure(const std::string& reason) {
    context_.metrics.add(&DeviceCounters::broken_queues);
    spdlog::error("{}: queue broken, no more requests taken: {}", name_, reason);
}

}  // namespace pvsim::backend::vhost_user_blk
