#include "backend/vhost_user_blk/vring.hpp"

#include <fmt/format.h>

namespace pvsim::backend::vhost_user_blk {

Vring::Vring(virtio::SplitVirtqView view, std::uint16_t last_avail_idx, bool event_idx)
    : view_(view),
      last_avail_(last_avail_idx),
      used_(view.used_idx()),
      published_used_(used_),
      event_idx_(event_idx) {}

std::optional<std::uint16_t> Vring::available(std::string& why) const {
    const std::uint16_t avail = view_.avail_idx();
    const auto count = static_cast<std::uint16_t>(avail - last_avail_);
    if (count > size()) {
        why = fmt::format(
            "the driver moved the avail index from {} to {}, more than the {} entries "
            "of the queue",
            last_avail_, avail, size());
        return std::nullopt;
    }
    return count;
}

std::optional<std::uint16_t> Vring::take_head(std::string& why) {
    const std::uint16_t head = view_.avail_ring(last_avail_);
    if (head >= size()) {
        why = fmt::format("avail entry {} names head {}, out of range for a queue of {}",
                          last_avail_, head, size());
        return std::nullopt;
    }
    ++last_avail_;
    return head;
}

void Vring::add_used(std::uint32_t head, std::uint32_t len) {
    view_.set_used_elem(used_, virtio::VirtqUsedElem{.id = head, .len = len});
    ++used_;
}

bool Vring::flush_used() {
    if (used_ == published_used_) {
        return false;
    }
    const std::uint16_t old = published_used_;
    view_.publish_used_idx(used_);
    published_used_ = used_;
    return view_.device_should_interrupt(old, used_, event_idx_);
}

void Vring::disable_notify() {
    if (!event_idx_) {
        view_.set_used_flags(
            static_cast<std::uint16_t>(view_.used_flags() | virtio::kUsedFNoNotify));
    }
}

bool Vring::enable_notify() {
    if (event_idx_) {
        view_.arm_avail_event(last_avail_);
    } else {
        view_.set_used_flags(
            static_cast<std::uint16_t>(view_.used_flags() & ~virtio::kUsedFNoNotify));
        virtio::full_barrier();
    }
    return has_available();
}

}  // namespace pvsim::backend::vhost_user_blk
