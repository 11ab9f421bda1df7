// The split virtqueue as it lies in memory shared by driver and device
// (virtio 1.2 §2.7; linux/virtio_ring.h): descriptor table, available ring,
// used ring, their sizes and alignments, and the event-index test both sides
// use to suppress notifications. Section numbers below are virtio 1.2's.
// Accessing a queue across processes is SplitVirtqView's job
// (virtqueue_view.hpp); this file is the layout alone.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/virtio/features.hpp"

namespace pvsim::virtio {

// Alignment of each part (§2.7 table; Linux VRING_*_ALIGN_SIZE).
inline constexpr std::size_t kDescTableAlign = 16;
inline constexpr std::size_t kAvailRingAlign = 2;
inline constexpr std::size_t kUsedRingAlign = 4;

// struct virtq_desc (§2.7.5). `addr` is guest-physical; `next` chains
// descriptors when kDescFNext is set.
struct VirtqDesc {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16);

// virtq_desc flags (VIRTQ_DESC_F_*; Linux VRING_DESC_F_*).
inline constexpr std::uint16_t kDescFNext = 1;      // VIRTQ_DESC_F_NEXT: chain continues at `next`
inline constexpr std::uint16_t kDescFWrite = 2;     // VIRTQ_DESC_F_WRITE: device writes the buffer
inline constexpr std::uint16_t kDescFIndirect = 4;  // VIRTQ_DESC_F_INDIRECT: buffer is a desc table

// struct virtq_avail (§2.7.6), fixed part. In memory it is followed by
// `le16 ring[queue_size]` and, with VIRTIO_F_EVENT_IDX, `le16 used_event`:
// a C++ type cannot have a run-time array length, so those are reached
// through the offsets below (or SplitVirtqView).
struct VirtqAvail {
    std::uint16_t flags;
    std::uint16_t idx;  // where the driver puts the next entry; free-running, wraps at 2^16
};
static_assert(sizeof(VirtqAvail) == 4);
inline constexpr std::size_t kAvailRingOffset = sizeof(VirtqAvail);  // offsetof(virtq_avail, ring)

// VIRTQ_AVAIL_F_NO_INTERRUPT: the driver needs no used-buffer notification.
// Ignored by the device once VIRTIO_F_EVENT_IDX is negotiated (§2.7.7 Used
// Buffer Notification Suppression).
inline constexpr std::uint16_t kAvailFNoInterrupt = 1;

// struct virtq_used_elem (§2.7.8). `id` is u32 for padding reasons; it holds
// the head descriptor index of the chain, `len` the bytes written into it.
struct VirtqUsedElem {
    std::uint32_t id;
    std::uint32_t len;
};
static_assert(sizeof(VirtqUsedElem) == 8);

// struct virtq_used (§2.7.8), fixed part; followed by
// `virtq_used_elem ring[queue_size]` and, with VIRTIO_F_EVENT_IDX,
// `le16 avail_event`. Aligned like its ring entries, as Linux's vring_used.
struct alignas(kUsedRingAlign) VirtqUsed {
    std::uint16_t flags;
    std::uint16_t idx;  // where the device puts the next entry; free-running
};
static_assert(sizeof(VirtqUsed) == 4);
inline constexpr std::size_t kUsedRingOffset = sizeof(VirtqUsed);  // offsetof(virtq_used, ring)

// VIRTQ_USED_F_NO_NOTIFY: the device needs no available-buffer notification.
// Ignored by the driver once VIRTIO_F_EVENT_IDX is negotiated (§2.7.10
// Available Buffer Notification Suppression).
inline constexpr std::uint16_t kUsedFNoNotify = 1;

// Queue Size: a power of two, at most 32768 (§2.7). 0 means "no queue".
inline constexpr std::uint32_t kMaxQueueSize = 32768;
constexpr bool is_valid_queue_size(std::uint32_t queue_size) {
    return queue_size != 0 && queue_size <= kMaxQueueSize && std::has_single_bit(queue_size);
}

// Size of each part for a queue size (§2.7 table). The avail and used sizes
// count the trailing used_event / avail_event field whether or not
// VIRTIO_F_EVENT_IDX is negotiated.
constexpr std::size_t desc_table_size(std::uint32_t queue_size) {
    return sizeof(VirtqDesc) * queue_size;
}
constexpr std::size_t avail_ring_size(std::uint32_t queue_size) {
    return sizeof(VirtqAvail) + sizeof(std::uint16_t) * queue_size + sizeof(std::uint16_t);
}
constexpr std::size_t used_ring_size(std::uint32_t queue_size) {
    return sizeof(VirtqUsed) + sizeof(VirtqUsedElem) * queue_size + sizeof(std::uint16_t);
}

// Where the event fields sit, from the start of their part (Linux
// vring_used_event() / vring_avail_event(): just past the last ring entry).
constexpr std::size_t used_event_offset(std::uint32_t queue_size) {
    return kAvailRingOffset + sizeof(std::uint16_t) * queue_size;
}
constexpr std::size_t avail_event_offset(std::uint32_t queue_size) {
    return kUsedRingOffset + sizeof(VirtqUsedElem) * queue_size;
}

// Byte offsets and sizes of the three parts when they share one contiguous
// area that starts at offset 0 (and at a 16-byte aligned address).
struct SplitLayout {
    std::uint32_t queue_size;
    std::size_t desc_offset;
    std::size_t desc_size;
    std::size_t avail_offset;
    std::size_t avail_size;
    std::size_t used_offset;
    std::size_t used_size;
    std::size_t total_size;  // bytes the whole area needs
    friend constexpr bool operator==(const SplitLayout&, const SplitLayout&) = default;
};

// The legacy contiguous layout (virtio 1.2 §2.7.2 "Legacy Interfaces: A Note
// on Virtqueue Layout"; Linux vring_init()/vring_size()): descriptors, then
// the avail ring right after them, then the used ring at the next multiple
// of `align`. Legacy PCI uses align 4096; vhost-user front-ends commonly lay
// queues out this way. Empty for an invalid queue size, or an `align` that is
// not a power of two at least kUsedRingAlign.
constexpr std::optional<SplitLayout> legacy_split_layout(std::uint32_t queue_size,
                                                         std::size_t align) {
    if (!is_valid_queue_size(queue_size) || align < kUsedRingAlign || !std::has_single_bit(align)) {
        return std::nullopt;
    }
    SplitLayout l{};
    l.queue_size = queue_size;
    l.desc_offset = 0;
    l.desc_size = desc_table_size(queue_size);
    l.avail_offset = l.desc_offset + l.desc_size;  // a multiple of 16, so 2-aligned
    l.avail_size = avail_ring_size(queue_size);
    l.used_offset = (l.avail_offset + l.avail_size + align - 1) & ~(align - 1);
    l.used_size = used_ring_size(queue_size);
    l.total_size = l.used_offset + l.used_size;
    return l;
}

// The tightest contiguous virtio 1.x layout: each part at its §2.7 minimum
// alignment. The 1.x driver may place the parts anywhere (it tells the
// device three addresses); this is what pvsim's driver does with one area.
constexpr std::optional<SplitLayout> split_layout(std::uint32_t queue_size) {
    return legacy_split_layout(queue_size, kUsedRingAlign);
}

// Whether a side that has just moved its index from `old_idx` to `new_idx`
// must notify, given the other side's event index (§2.7.7 and §2.7.10, the
// two notification suppression sections, with VIRTIO_F_EVENT_IDX; Linux
// vring_need_event()). True iff `event_idx` lies in
// [old_idx, new_idx) modulo 2^16: the other side asked to hear about the
// entry at `event_idx`, and this update published it.
constexpr bool vring_need_event(std::uint16_t event_idx, std::uint16_t new_idx,
                                std::uint16_t old_idx) {
    return static_cast<std::uint16_t>(new_idx - event_idx - 1) <
           static_cast<std::uint16_t>(new_idx - old_idx);
}

}  // namespace pvsim::virtio
