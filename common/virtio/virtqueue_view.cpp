#include "common/virtio/virtqueue_view.hpp"

#include <cassert>
#include <cstdint>

namespace pvsim::virtio {

namespace {

bool aligned(const std::byte* p, std::size_t align) {
    return reinterpret_cast<std::uintptr_t>(p) % align == 0;
}

}  // namespace

std::optional<SplitVirtqView> SplitVirtqView::over(std::span<std::byte> area,
                                                   const SplitLayout& layout) {
    auto fits = [&](std::size_t offset, std::size_t size) {
        return offset <= area.size() && size <= area.size() - offset;
    };
    if (!fits(layout.desc_offset, layout.desc_size) ||
        !fits(layout.avail_offset, layout.avail_size) ||
        !fits(layout.used_offset, layout.used_size)) {
        return std::nullopt;
    }
    return from_parts(layout.queue_size, area.subspan(layout.desc_offset, layout.desc_size),
                      area.subspan(layout.avail_offset, layout.avail_size),
                      area.subspan(layout.used_offset, layout.used_size));
}

std::optional<SplitVirtqView> SplitVirtqView::from_parts(std::uint32_t queue_size,
                                                         std::span<std::byte> desc,
                                                         std::span<std::byte> avail,
                                                         std::span<std::byte> used) {
    if (!is_valid_queue_size(queue_size)) {
        return std::nullopt;
    }
    if (desc.size() < desc_table_size(queue_size) || avail.size() < avail_ring_size(queue_size) ||
        used.size() < used_ring_size(queue_size)) {
        return std::nullopt;
    }
    // §2.7 "Driver Requirements: Virtqueues": each part starts at a multiple
    // of its alignment. The atomics below rely on it too.
    if (!aligned(desc.data(), kDescTableAlign) || !aligned(avail.data(), kAvailRingAlign) ||
        !aligned(used.data(), kUsedRingAlign)) {
        return std::nullopt;
    }
    return SplitVirtqView(desc.data(), avail.data(), used.data(),
                          static_cast<std::uint16_t>(queue_size));
}

VirtqDesc SplitVirtqView::desc(std::uint16_t index) const {
    assert(index <= mask_);
    std::byte* d = desc_ + sizeof(VirtqDesc) * index;
    return VirtqDesc{
        .addr = load_relaxed(at<std::uint64_t>(d, offsetof(VirtqDesc, addr))),
        .len = load_relaxed(at<std::uint32_t>(d, offsetof(VirtqDesc, len))),
        .flags = load_relaxed(at<std::uint16_t>(d, offsetof(VirtqDesc, flags))),
        .next = load_relaxed(at<std::uint16_t>(d, offsetof(VirtqDesc, next))),
    };
}

void SplitVirtqView::set_desc(std::uint16_t index, const VirtqDesc& desc) {
    assert(index <= mask_);
    std::byte* d = desc_ + sizeof(VirtqDesc) * index;
    store_relaxed(at<std::uint64_t>(d, offsetof(VirtqDesc, addr)), desc.addr);
    store_relaxed(at<std::uint32_t>(d, offsetof(VirtqDesc, len)), desc.len);
    store_relaxed(at<std::uint16_t>(d, offsetof(VirtqDesc, flags)), desc.flags);
    store_relaxed(at<std::uint16_t>(d, offsetof(VirtqDesc, next)), desc.next);
}

VirtqUsedElem SplitVirtqView::used_elem(std::uint16_t idx) const {
    std::byte* e = used_slot(idx);
    return VirtqUsedElem{
        .id = load_relaxed(at<std::uint32_t>(e, offsetof(VirtqUsedElem, id))),
        .len = load_relaxed(at<std::uint32_t>(e, offsetof(VirtqUsedElem, len))),
    };
}

void SplitVirtqView::set_used_elem(std::uint16_t idx, const VirtqUsedElem& elem) {
    std::byte* e = used_slot(idx);
    store_relaxed(at<std::uint32_t>(e, offsetof(VirtqUsedElem, id)), elem.id);
    store_relaxed(at<std::uint32_t>(e, offsetof(VirtqUsedElem, len)), elem.len);
}

bool SplitVirtqView::driver_should_kick(std::uint16_t old_idx, std::uint16_t new_idx,
                                        bool event_idx) const {
    // The new avail idx must be globally visible before avail_event / flags
    // are read, or a device going to sleep in between is never woken.
    full_barrier();
    if (event_idx) {
        return vring_need_event(avail_event(), new_idx, old_idx);
    }
    return (used_flags() & kUsedFNoNotify) == 0;
}

bool SplitVirtqView::device_should_interrupt(std::uint16_t old_idx, std::uint16_t new_idx,
                                             bool event_idx) const {
    full_barrier();
    if (event_idx) {
        return vring_need_event(used_event(), new_idx, old_idx);
    }
    return (avail_flags() & kAvailFNoInterrupt) == 0;
}

}  // namespace pvsim::virtio
