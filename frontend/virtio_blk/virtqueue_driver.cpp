#include "frontend/virtio_blk/virtqueue_driver.hpp"

#include <cstring>
#include <new>
#include <string>

namespace pvsim::frontend::virtio_blk {
namespace {

using virtio::VirtqDesc;

std::uint32_t checked_queue_size(std::uint32_t size) {
    if (!virtio::is_valid_queue_size(size) || size > VirtqueueDriver::kMaxQueueSize) {
        throw std::invalid_argument("queue size " + std::to_string(size) +
                                    " is not a power of two from 1 to " +
                                    std::to_string(VirtqueueDriver::kMaxQueueSize));
    }
    return size;
}

virtio::SplitVirtqView make_view(std::uint32_t size, const GuestPage& desc, const GuestPage& avail,
                                 const GuestPage& used) {
    auto view = virtio::SplitVirtqView::from_parts(size, desc.bytes(), avail.bytes(), used.bytes());
    if (!view) {
        throw std::logic_error("virtqueue parts do not fit their pages");
    }
    return *view;
}

constexpr std::uint16_t desc_flags(const VirtqBuffer& buffer, bool more) {
    return static_cast<std::uint16_t>((buffer.device_writable ? virtio::kDescFWrite : 0) |
                                      (more ? virtio::kDescFNext : 0));
}

}  // namespace

VirtqueueDriver::VirtqueueDriver(hypervisor::DomainMemory& memory, Options options)
    : memory_(memory),
      options_(options),
      size_(static_cast<std::uint16_t>(checked_queue_size(options.queue_size))),
      desc_page_(memory),
      avail_page_(memory),
      used_page_(memory),
      view_(make_view(options.queue_size, desc_page_, avail_page_, used_page_)),
      next_(size_),
      heads_(size_),
      num_free_(size_) {
    // The free list threads every descriptor in order (vring_alloc_queue_split).
    for (std::uint16_t i = 0; i < size_; ++i) {
        next_[i] = static_cast<std::uint16_t>(i + 1);
    }
    if (options_.indirect_desc) {
        const std::size_t per_page = kPageSize / (kSmallIndirectDescriptors * sizeof(VirtqDesc));
        for (std::size_t i = 0; i < (size_ + per_page - 1) / per_page; ++i) {
            small_tables_.emplace_back(memory_);
        }
        page_tables_.resize(size_);
    }
    scratch_.reserve(size_);
}

std::size_t VirtqueueDriver::max_chain() const noexcept {
    // §2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than
    // the Queue Size of the device", an indirect table included. A table
    // of a whole queue fits in one page (size_ <= kMaxIndirectDescriptors).
    return size_;
}

std::span<std::byte> VirtqueueDriver::small_table(std::uint16_t head) const {
    constexpr std::size_t bytes = kSmallIndirectDescriptors * sizeof(VirtqDesc);
    constexpr std::size_t per_page = kPageSize / bytes;
    return std::span<std::byte>(small_tables_[head / per_page].bytes())
        .subspan((head % per_page) * bytes, bytes);
}

std::uint64_t VirtqueueDriver::small_table_gpa(std::uint16_t head) const {
    constexpr std::size_t bytes = kSmallIndirectDescriptors * sizeof(VirtqDesc);
    constexpr std::size_t per_page = kPageSize / bytes;
    return small_tables_[head / per_page].gpa((head % per_page) * bytes);
}

std::uint16_t VirtqueueDriver::take_descriptors(std::size_t count,
                                                std::vector<std::uint16_t>& indices) {
    indices.clear();
    std::uint16_t i = free_head_;
    for (std::size_t n = 0; n < count; ++n) {
        indices.push_back(i);
        i = next_[i];
    }
    free_head_ = i;
    num_free_ -= count;
    return indices.front();
}

void VirtqueueDriver::make_available(std::uint16_t head) {
    // §2.7.13.2: the head goes in the next ring slot, then idx moves (a
    // release store, so the device sees the descriptors and slot first).
    view_.set_avail_ring(avail_idx_, head);
    ++avail_idx_;
    ++num_added_;
    view_.publish_avail_idx(avail_idx_);
    ++in_flight_;
}

VirtqueueDriver::AddResult VirtqueueDriver::add(std::span<const VirtqBuffer> chain,
                                                std::uint32_t token) {
    if (chain.empty() || chain.size() > max_chain()) {
        throw std::invalid_argument("a chain of " + std::to_string(chain.size()) +
                                    " buffers (1 to " + std::to_string(max_chain()) +
                                    " fit this queue)");
    }
    if (num_free_ == 0) {
        return AddResult::no_room;
    }
    // virtqueue_use_indirect: more than one buffer and the feature there.
    if (options_.indirect_desc && chain.size() > 1) {
        std::span<std::byte> table;
        std::uint64_t table_gpa = 0;
        Table kind = Table::small;
        const std::uint16_t head = free_head_;
        if (chain.size() <= kSmallIndirectDescriptors) {
            table = small_table(head);
            table_gpa = small_table_gpa(head);
        } else {
            GuestPage page;
            if (!page_pool_.empty()) {
                page = std::move(page_pool_.back());
                page_pool_.pop_back();
            } else {
                try {
                    page = GuestPage(memory_);
                } catch (const std::bad_alloc&) {
                    // As Linux falls back when its table allocation fails.
                    if (chain.size() > size_) {
                        throw;
                    }
                }
            }
            if (page) {
                table = page.bytes();
                table_gpa = page.gpa();
                page_tables_[head] = std::move(page);
                kind = Table::page;
            }
        }
        if (!table.empty()) {
            // §2.7.5.3.1: the table's descriptors chain by index within it.
            for (std::size_t i = 0; i < chain.size(); ++i) {
                const bool more = i + 1 < chain.size();
                const VirtqDesc desc{.addr = chain[i].addr,
                                     .len = chain[i].len,
                                     .flags = desc_flags(chain[i], more),
                                     .next = static_cast<std::uint16_t>(more ? i + 1 : 0)};
                std::memcpy(table.data() + i * sizeof(VirtqDesc), &desc, sizeof(desc));
            }
            take_descriptors(1, scratch_);
            view_.set_desc(
                head, VirtqDesc{.addr = table_gpa,
                                .len = static_cast<std::uint32_t>(chain.size() * sizeof(VirtqDesc)),
                                .flags = virtio::kDescFIndirect,
                                .next = 0});
            heads_[head] = Head{.in_flight = true, .token = token, .descriptors = 1, .table = kind};
            make_available(head);
            return AddResult::indirect;
        }
    }
    if (chain.size() > num_free_) {
        return AddResult::no_room;
    }
    const std::uint16_t head = take_descriptors(chain.size(), scratch_);
    for (std::size_t i = 0; i < chain.size(); ++i) {
        const bool more = i + 1 < chain.size();
        view_.set_desc(scratch_[i], VirtqDesc{.addr = chain[i].addr,
                                              .len = chain[i].len,
                                              .flags = desc_flags(chain[i], more),
                                              .next = more ? scratch_[i + 1] : std::uint16_t{0}});
    }
    heads_[head] = Head{.in_flight = true,
                        .token = token,
                        .descriptors = static_cast<std::uint16_t>(chain.size()),
                        .table = Table::none};
    make_available(head);
    return AddResult::direct;
}

bool VirtqueueDriver::kick_prepare() {
    if (num_added_ == 0) {
        return false;
    }
    const auto old_idx = static_cast<std::uint16_t>(avail_idx_ - num_added_);
    num_added_ = 0;
    return view_.driver_should_kick(old_idx, avail_idx_, options_.event_idx);
}

bool VirtqueueDriver::more_used() const noexcept {
    return view_.used_idx() != last_used_;
}

std::optional<UsedBuffer> VirtqueueDriver::get_used() {
    const std::uint16_t used_idx = view_.used_idx();  // acquire: elements before it are visible
    if (used_idx == last_used_) {
        return std::nullopt;
    }
    const auto pending = static_cast<std::uint16_t>(used_idx - last_used_);
    if (pending > in_flight_) {
        throw VirtqueueError("used idx " + std::to_string(used_idx) + " is " +
                             std::to_string(pending) + " entries ahead, but only " +
                             std::to_string(in_flight_) + " chains are in flight");
    }
    const virtio::VirtqUsedElem elem = view_.used_elem(last_used_);
    if (elem.id >= size_ || !heads_[elem.id].in_flight) {
        throw VirtqueueError("used element " + std::to_string(last_used_) + " names descriptor " +
                             std::to_string(elem.id) + ", which heads no chain in flight");
    }
    const auto head = static_cast<std::uint16_t>(elem.id);
    const UsedBuffer used{.token = heads_[head].token, .len = elem.len};
    detach(head);
    ++last_used_;
    if (notifications_enabled_ && options_.event_idx) {
        // virtqueue_get_buf_ctx_split: keep used_event at the next entry
        // wanted, or the device stops notifying (virtio_store_mb).
        view_.set_used_event(last_used_);
        virtio::full_barrier();
    }
    return used;
}

void VirtqueueDriver::detach(std::uint16_t head) {
    Head& state = heads_[head];
    // detach_buf_split: the chain goes back on the free list whole.
    std::uint16_t last = head;
    for (std::uint16_t n = 1; n < state.descriptors; ++n) {
        last = next_[last];
    }
    next_[last] = free_head_;
    free_head_ = head;
    num_free_ += state.descriptors;
    if (state.table == Table::page) {
        page_pool_.push_back(std::move(page_tables_[head]));
    }
    state = Head{};
    --in_flight_;
}

std::size_t VirtqueueDriver::detach_unused() {
    std::size_t detached = 0;
    for (std::uint16_t head = 0; head < size_; ++head) {
        if (heads_[head].in_flight) {
            detach(head);
            ++detached;
        }
    }
    return detached;
}

void VirtqueueDriver::disable_notifications() {
    notifications_enabled_ = false;
    if (options_.event_idx) {
        // Half the index space away: no update the device can make (at most
        // size() entries past last_used_) crosses it. Linux writes 0 here.
        view_.set_used_event(static_cast<std::uint16_t>(last_used_ + 0x8000));
    } else {
        view_.set_avail_flags(virtio::kAvailFNoInterrupt);
    }
}

bool VirtqueueDriver::enable_notifications() {
    notifications_enabled_ = true;
    if (options_.event_idx) {
        view_.arm_used_event(last_used_);
    } else {
        view_.set_avail_flags(0);
        virtio::full_barrier();
    }
    return view_.used_idx() == last_used_;
}

}  // namespace pvsim::frontend::virtio_blk
