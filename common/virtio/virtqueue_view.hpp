// SplitVirtqView: one process's window onto a split virtqueue that lives in
// memory shared with another process (the guest's memory, mapped by both the
// virtio driver and the vhost-user device). Section numbers are virtio 1.2's.
//
// The view holds the three part addresses *in this process*; nothing it
// writes into the shared memory is a pointer, because the other side maps the
// memory elsewhere. Every access to a shared field is atomic: the other side
// runs concurrently and may be buggy or hostile, and atomics keep even a
// racing access defined (a relaxed load is a plain load on x86-64). Ordering
// is where the spec asks for barriers:
//   - publishing an index is a release store, so the entries written before it
//     (descriptors and avail ring, or used elements) are visible to whoever
//     reads the index with the matching acquire load (§2.7.13 steps 4-5 and
//     §2.7.13.3 "Updating idx"; §2.7.8 "The device MUST set len prior to
//     updating the used idx");
//   - deciding whether to notify after publishing, and re-checking the ring
//     after arming an event index, needs a full barrier between the store and
//     the load (§2.7.13.4 "Notifying The Device", §2.7.14's re-check with
//     mb()); otherwise store-load reordering loses a wake-up.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/virtio/virtqueue.hpp"

namespace pvsim::virtio {

// The barrier the spec calls "a suitable memory barrier" between a store the
// other side must see and a load of what the other side stored (store-load
// ordering: mb() in Linux, MFENCE or a locked instruction on x86-64).
inline void full_barrier() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

class SplitVirtqView {
  public:
    // Over one contiguous area laid out as `layout` says (split_layout() or
    // legacy_split_layout()); `area` starts at the layout's offset 0. Empty
    // when the area is too small or not 16-byte aligned.
    static std::optional<SplitVirtqView> over(std::span<std::byte> area, const SplitLayout& layout);

    // Over three separately placed parts, as a virtio 1.x driver may place
    // them and as vhost-user's SET_VRING_ADDR describes them. Empty when the
    // queue size is invalid, or a part is shorter than its §2.7 size or not
    // aligned to its §2.7 alignment.
    static std::optional<SplitVirtqView> from_parts(std::uint32_t queue_size,
                                                    std::span<std::byte> desc,
                                                    std::span<std::byte> avail,
                                                    std::span<std::byte> used);

    std::uint16_t size() const { return static_cast<std::uint16_t>(mask_ + 1); }

    // --- Descriptor table (written by the driver, read by the device) ---
    // `index` must be < size(): a device checks indices it got from the
    // driver (heads, `next`) before asking, and treats a bad one as the
    // driver's error.
    VirtqDesc desc(std::uint16_t index) const;
    void set_desc(std::uint16_t index, const VirtqDesc& desc);

    // --- Available ring (written by the driver, read by the device) ---
    std::uint16_t avail_flags() const { return load_relaxed(avail_flags_ptr()); }
    void set_avail_flags(std::uint16_t flags) { store_relaxed(avail_flags_ptr(), flags); }

    // Device side: how far the driver has published. Acquire: the entries and
    // descriptors the driver wrote before publishing are visible afterwards.
    std::uint16_t avail_idx() const { return load_acquire(avail_idx_ptr()); }
    // Driver side: expose every entry before `idx` (release, §2.7.13.3).
    void publish_avail_idx(std::uint16_t idx) { store_release(avail_idx_ptr(), idx); }

    // The head descriptor index in the slot of free-running index `idx`
    // (the slot is idx modulo the queue size).
    std::uint16_t avail_ring(std::uint16_t idx) const { return load_relaxed(avail_slot(idx)); }
    void set_avail_ring(std::uint16_t idx, std::uint16_t head) {
        store_relaxed(avail_slot(idx), head);
    }

    // used_event: the used index whose publication should wake the driver
    // (VIRTIO_F_EVENT_IDX).
    std::uint16_t used_event() const { return load_relaxed(used_event_ptr()); }
    void set_used_event(std::uint16_t idx) { store_relaxed(used_event_ptr(), idx); }

    // --- Used ring (written by the device, read by the driver) ---
    std::uint16_t used_flags() const { return load_relaxed(used_flags_ptr()); }
    void set_used_flags(std::uint16_t flags) { store_relaxed(used_flags_ptr(), flags); }

    // Driver side: how far the device has published (acquire).
    std::uint16_t used_idx() const { return load_acquire(used_idx_ptr()); }
    // Device side: expose every used element before `idx` (release).
    void publish_used_idx(std::uint16_t idx) { store_release(used_idx_ptr(), idx); }

    VirtqUsedElem used_elem(std::uint16_t idx) const;
    void set_used_elem(std::uint16_t idx, const VirtqUsedElem& elem);

    // avail_event: the avail index whose publication should kick the device.
    std::uint16_t avail_event() const { return load_relaxed(avail_event_ptr()); }
    void set_avail_event(std::uint16_t idx) { store_relaxed(avail_event_ptr(), idx); }

    // --- Notification decisions ---
    // Driver, right after publish_avail_idx(new_idx) moved the index from
    // old_idx: must it kick the device? Full barrier first, then avail_event
    // (with EVENT_IDX) or VIRTQ_USED_F_NO_NOTIFY (§2.7.10, §2.7.13.4).
    bool driver_should_kick(std::uint16_t old_idx, std::uint16_t new_idx, bool event_idx) const;
    // Device, right after publish_used_idx(new_idx) moved the index from
    // old_idx: must it interrupt the driver? Full barrier first, then
    // used_event (with EVENT_IDX) or VIRTQ_AVAIL_F_NO_INTERRUPT (§2.7.7).
    // VIRTIO_F_NOTIFY_ON_EMPTY (legacy) is the caller's business.
    bool device_should_interrupt(std::uint16_t old_idx, std::uint16_t new_idx,
                                 bool event_idx) const;

    // Before sleeping: ask to be woken when the other side publishes index
    // `idx`, then full barrier. The caller must re-check the other side's
    // index afterwards: anything published before the barrier sent no
    // notification (§2.7.14's enable-then-recheck loop).
    void arm_used_event(std::uint16_t idx) {  // driver
        set_used_event(idx);
        full_barrier();
    }
    void arm_avail_event(std::uint16_t idx) {  // device
        set_avail_event(idx);
        full_barrier();
    }

  private:
    SplitVirtqView(std::byte* desc, std::byte* avail, std::byte* used, std::uint16_t size)
        : desc_(desc), avail_(avail), used_(used), mask_(static_cast<std::uint16_t>(size - 1)) {}

    template <class T>
    static T* at(std::byte* base, std::size_t offset) {
        return reinterpret_cast<T*>(base + offset);
    }
    template <class T>
    static T load_relaxed(T* p) {
        return std::atomic_ref<T>(*p).load(std::memory_order_relaxed);
    }
    template <class T>
    static void store_relaxed(T* p, T v) {
        std::atomic_ref<T>(*p).store(v, std::memory_order_relaxed);
    }
    static std::uint16_t load_acquire(std::uint16_t* p) {
        return std::atomic_ref<std::uint16_t>(*p).load(std::memory_order_acquire);
    }
    static void store_release(std::uint16_t* p, std::uint16_t v) {
        std::atomic_ref<std::uint16_t>(*p).store(v, std::memory_order_release);
    }

    std::uint16_t* avail_flags_ptr() const {
        return at<std::uint16_t>(avail_, offsetof(VirtqAvail, flags));
    }
    std::uint16_t* avail_idx_ptr() const {
        return at<std::uint16_t>(avail_, offsetof(VirtqAvail, idx));
    }
    std::uint16_t* avail_slot(std::uint16_t idx) const {
        return at<std::uint16_t>(avail_, kAvailRingOffset + sizeof(std::uint16_t) * (idx & mask_));
    }
    std::uint16_t* used_event_ptr() const {
        return at<std::uint16_t>(avail_, used_event_offset(size()));
    }
    std::uint16_t* used_flags_ptr() const {
        return at<std::uint16_t>(used_, offsetof(VirtqUsed, flags));
    }
    std::uint16_t* used_idx_ptr() const {
        return at<std::uint16_t>(used_, offsetof(VirtqUsed, idx));
    }
    std::byte* used_slot(std::uint16_t idx) const {
        return used_ + kUsedRingOffset + sizeof(VirtqUsedElem) * (idx & mask_);
    }
    std::uint16_t* avail_event_ptr() const {
        return at<std::uint16_t>(used_, avail_event_offset(size()));
    }

    // Cross-process atomics are only sound when lock-free (address-free).
    static_assert(std::atomic_ref<std::uint16_t>::is_always_lock_free);
    static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);
    static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

    std::byte* desc_;
    std::byte* avail_;
    std::byte* used_;
    std::uint16_t mask_;  // queue size - 1 (a power of two minus one)
};

}  // namespace pvsim::virtio
