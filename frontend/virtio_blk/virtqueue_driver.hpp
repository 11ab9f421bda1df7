// The driver's side of one split virtqueue in the guest's memory (virtio 1.2
// §2.7; Linux drivers/virtio/virtio_ring.c, the *_split functions): the
// descriptor table, avail ring and used ring each in a page of their own,
// descriptor chains added with the free list Linux keeps (virtqueue_add_split,
// detach_buf_split), indirect tables (§2.7.5.3) whenever a chain has more than
// one buffer and VIRTIO_F_INDIRECT_DESC is negotiated, and notification
// suppression both ways with VIRTIO_F_EVENT_IDX:
//  - kick_prepare() decides with vring_need_event() on avail_event whether the
//    device must be kicked for what was added since the last decision
//    (virtqueue_kick_prepare_split);
//  - used_event is kept at the next used entry the driver waits for while its
//    notifications are enabled (virtqueue_get_buf_ctx_split), and moved out of
//    reach while they are disabled (it polls, or is busy anyway).
//
// Everything the device writes (used elements) is checked before use: a head
// that is not in flight or a used index that runs ahead of what was made
// available throws VirtqueueError and the queue is not to be used again.
//
// Not thread-safe: the caller serialises (the block device's queue lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "common/virtio/virtqueue_view.hpp"
#include "frontend/virtio_blk/guest_page.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {

// A used element the device should not have written.
class VirtqueueError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One buffer of a chain: guest-physical address, length, and whether the
// device writes it (VIRTQ_DESC_F_WRITE) or reads it.
struct VirtqBuffer {
    std::uint64_t addr = 0;
    std::uint32_t len = 0;
    bool device_writable = false;
};

// A chain the device has finished: the token it was added with and the
// bytes the device says it wrote.
struct UsedBuffer {
    std::uint32_t token = 0;
    std::uint32_t len = 0;
};

class VirtqueueDriver {
  public:
    // Each part in one page: a 256-entry descriptor table is exactly 4 KiB.
    static constexpr std::uint32_t kMaxQueueSize = 256;
    // An indirect table is at most one page of descriptors (and at most
    // the queue size, which is no more).
    static constexpr std::size_t kMaxIndirectDescriptors = kPageSize / sizeof(virtio::VirtqDesc);
    static_assert(kMaxQueueSize <= kMaxIndirectDescriptors);
    // Tables up to this many descriptors come from a slab set aside per head
    // at start; longer ones take a page each (pooled).
    static constexpr std::size_t kSmallIndirectDescriptors = 16;

    struct Options {
        std::uint32_t queue_size = kMaxQueueSize;  // a power of two, at most kMaxQueueSize
        bool event_idx = false;                    // VIRTIO_F_EVENT_IDX negotiated
        bool indirect_desc = false;                // VIRTIO_F_INDIRECT_DESC negotiated
    };

    enum class AddResult { no_room, direct, indirect };

    // Allocates the rings' pages (and the small indirect tables) from
    // `memory`, which must outlive this. Throws std::invalid_argument for a
    // bad queue size, std::bad_alloc when the guest is out of pages.
    VirtqueueDriver(hypervisor::DomainMemory& memory, Options options);
    VirtqueueDriver(const VirtqueueDriver&) = delete;
    VirtqueueDriver& operator=(const VirtqueueDriver&) = delete;

    std::uint16_t size() const noexcept { return size_; }
    bool event_idx() const noexcept { return options_.event_idx; }
    bool indirect_desc() const noexcept { return options_.indirect_desc; }

    // Guest-physical addresses of the three parts (the device translates the
    // front-end's virtual ones, base() + these, for SET_VRING_ADDR).
    std::uint64_t desc_gpa() const noexcept { return desc_page_.gpa(); }
    std::uint64_t avail_gpa() const noexcept { return avail_page_.gpa(); }
    std::uint64_t used_gpa() const noexcept { return used_page_.gpa(); }

    // The longest chain add() accepts: the queue size (§2.7.5.3.1), whether
    // it goes in an indirect table or in the descriptor table.
    std::size_t max_chain() const noexcept;

    // Adds a chain (device-readable buffers first, then device-writable
    // ones, §2.7.4) and makes it available to the device at once (avail idx
    // published). no_room when the free descriptors do not hold it now.
    // Throws std::invalid_argument for an empty chain or one longer than
    // max_chain(), std::bad_alloc when a long indirect table needs a page
    // and there is none and the chain cannot go direct.
    AddResult add(std::span<const VirtqBuffer> chain, std::uint32_t token);

    // Whether the device must be kicked for the chains added since the last
    // call (vring_need_event on avail_event, or VIRTQ_USED_F_NO_NOTIFY).
    // False when nothing was added.
    bool kick_prepare();
    // Chains added since the last kick_prepare().
    std::uint16_t pending_kick() const noexcept { return num_added_; }

    // True when the device has published used entries not yet taken.
    bool more_used() const noexcept;
    // Takes the next used entry and frees its descriptors; nullopt when
    // there is none. Throws VirtqueueError on an entry the device could not
    // legitimately have written.
    std::optional<UsedBuffer> get_used();

    // The driver is awake (working or polling): no used-buffer
    // notification, please (used_event out of reach, or
    // VIRTQ_AVAIL_F_NO_INTERRUPT without EVENT_IDX).
    void disable_notifications();
    // Before sleeping: ask to be notified of the next used entry, with a full
    // barrier, then look again. False when entries are already waiting (take
    // them instead of sleeping), as Linux's virtqueue_enable_cb.
    bool enable_notifications();

    // virtqueue_detach_unused_buf, for every chain at once: the device that
    // had them is gone (a vhost-user reconnect), so the chains in flight go
    // back on the free list unanswered. The indices stay: a device set up
    // again starts from avail_idx() (SET_VRING_BASE) and from the used idx
    // in the ring, which is where the driver has taken up to. Returns how
    // many chains were in flight.
    std::size_t detach_unused();

    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t free_descriptors() const noexcept { return num_free_; }
    std::uint16_t avail_idx() const noexcept { return avail_idx_; }
    std::uint16_t last_used_idx() const noexcept { return last_used_; }

  private:
    enum class Table : std::uint8_t { none, small, page };
    struct Head {
        bool in_flight = false;
        std::uint32_t token = 0;
        std::uint16_t descriptors = 0;  // in the table (1 for an indirect chain)
        Table table = Table::none;
    };

    // Takes `count` descriptors off the free list, chained; returns the head
    // and fills `indices`.
    std::uint16_t take_descriptors(std::size_t count, std::vector<std::uint16_t>& indices);
    void make_available(std::uint16_t head);
    // Puts the chain at `head` back on the free list (detach_buf_split).
    void detach(std::uint16_t head);
    std::span<std::byte> small_table(std::uint16_t head) const;
    std::uint64_t small_table_gpa(std::uint16_t head) const;

    hypervisor::DomainMemory& memory_;
    Options options_;
    std::uint16_t size_;
    GuestPage desc_page_;
    GuestPage avail_page_;
    GuestPage used_page_;
    virtio::SplitVirtqView view_;

    // Driver-private shadow (Linux desc_extra / desc_state): the device
    // never writes the table, but nothing read back from shared memory is
    // trusted.
    std::vector<std::uint16_t> next_;
    std::vector<Head> heads_;
    std::uint16_t free_head_ = 0;
    std::size_t num_free_ = 0;
    std::size_t in_flight_ = 0;

    std::uint16_t avail_idx_ = 0;  // avail idx as published
    std::uint16_t num_added_ = 0;  // since the last kick_prepare()
    std::uint16_t last_used_ = 0;  // next used entry to take
    bool notifications_enabled_ = true;

    // Indirect tables: a slab of small ones (one per head), and a page per
    // long one in flight, from a pool.
    std::vector<GuestPage> small_tables_;
    std::vector<GuestPage> page_tables_;  // by head; empty when not in use
    std::vector<GuestPage> page_pool_;
    std::vector<std::uint16_t> scratch_;
};

}  // namespace pvsim::frontend::virtio_blk
