#include "frontend/virtio_blk/virtio_blk_vq.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <span>
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

VirtioBlkVq::VirtioBlkVq(hypervisor::DomainMemory& memory, const QueueConfig& config)
    : memory_(memory),
      config_(config),
      vq_(memory,
          VirtqueueDriver::Options{
              .queue_size = config_.queue_size,
              .event_idx = virtio::has_feature(config_.disk.features, virtio::Feature::event_idx),
              .indirect_desc =
                  virtio::has_feature(config_.disk.features, virtio::Feature::indirect_desc)}),
      slots_(vq_.size()),
      hangup_fd_(config.hangup_fd) {
    for (std::size_t i = 0; i < (vq_.size() + kSlotsPerPage - 1) / kSlotsPerPage; ++i) {
        slot_pages_.emplace_back(memory_);
    }
    free_tokens_.reserve(vq_.size());
    for (std::uint32_t token = vq_.size(); token-- > 0;) {
        free_tokens_.push_back(token);  // lowest on top
    }
}

std::byte* VirtioBlkVq::slot_bytes(std::uint32_t token) const {
    return slot_pages_[token / kSlotsPerPage].bytes().data() + (token % kSlotsPerPage) * kSlotBytes;
}

std::uint64_t VirtioBlkVq::slot_gpa(std::uint32_t token, std::size_t offset) const {
    return slot_pages_[token / kSlotsPerPage].gpa((token % kSlotsPerPage) * kSlotBytes + offset);
}

VirtioBlkCounters VirtioBlkVq::counters() const {
    VirtioBlkCounters c = counters_.snapshot();
    c.data_copies = 0;  // the device reads and writes the caller's pages in place
    c.queues = 1;
    return c;
}

bool VirtioBlkVq::put(Plan& plan, const std::shared_ptr<PendingIo>& io, FinishedIo& finished) {
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
        finished.part_done(io, -ENOMEM);
        return true;
    }
    if (added == VirtqueueDriver::AddResult::no_room) {
        return false;
    }
    free_tokens_.pop_back();
    slots_[token] = Slot{.io = io, .type = plan.type};
    counters_.add(&VirtioBlkCounters::requests);
    counters_.add(&VirtioBlkCounters::bytes, plan.data_bytes());
    if (added == VirtqueueDriver::AddResult::indirect) {
        counters_.add(&VirtioBlkCounters::indirect_requests);
    }
    if (plan.type == virtio::BlkReqType::flush) {
        counters_.add(&VirtioBlkCounters::flushes);
    } else if (plan.type == virtio::BlkReqType::discard) {
        counters_.add(&VirtioBlkCounters::discards);
    }
    return true;
}

Publish VirtioBlkVq::publish() {
    const bool added = vq_.pending_kick() != 0;
    if (vq_.kick_prepare()) {
        return Publish::notify;
    }
    return added ? Publish::suppressed : Publish::nothing;
}

std::optional<std::string> VirtioBlkVq::take_completions(FinishedIo& finished, bool& worked) {
    for (;;) {
        std::optional<UsedBuffer> used;
        try {
            used = vq_.get_used();
        } catch (const VirtqueueError& e) {
            return std::string(e.what());
        }
        if (!used) {
            return std::nullopt;
        }
        Slot slot = std::exchange(slots_[used->token], Slot{});
        free_tokens_.push_back(used->token);
        counters_.add(&VirtioBlkCounters::completions);
        const auto status_byte = std::to_integer<std::uint8_t>(
            std::atomic_ref<std::byte>(slot_bytes(used->token)[kStatusOffset])
                .load(std::memory_order_relaxed));
        const int status = status_errno(status_byte);
        if (status != 0) {
            spdlog::debug("{}: {} answered status {}", config_.name, virtio::name(slot.type),
                          static_cast<int>(status_byte));
        }
        finished.part_done(slot.io, status);
        worked = true;
    }
}

void VirtioBlkVq::fail_all(FinishedIo& finished, int status) {
    for (Slot& slot : slots_) {
        if (slot.io) {
            finished.part_done(slot.io, status);
            slot = Slot{};
        }
    }
}

}  // namespace pvsim::frontend::virtio_blk
