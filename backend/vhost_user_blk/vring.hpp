// The device's side of one split virtqueue (virtio 1.2 §2.7; Linux
// drivers/vhost/vhost.c: vhost_get_vq_desc's avail checks, vhost_add_used,
// vhost_notify, vhost_enable_notify / vhost_disable_notify): the next avail
// entry to take, the private used index, and the notification decisions in
// both directions. Every access to the shared parts goes through
// SplitVirtqView, which places the barriers.
//
// The driver's avail index and heads are the two things that can make the
// queue unusable as a whole ("malformed queue"): an avail index more than a
// queue ahead of what the device took (Linux: "Guest moved avail index from
// %u to %u"), and a head out of range ("Guest says index %u > %u is
// available"). The methods report those; the caller breaks the queue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/virtio/virtqueue_view.hpp"

namespace pvsim::backend::vhost_user_blk {

class Vring {
  public:
    // `last_avail_idx` from SET_VRING_BASE. The used index continues from the
    // one in the used ring (libvhost-user's vu_set_vring_addr_exec), so a
    // reconnected device carries on where the last one stopped.
    Vring(virtio::SplitVirtqView view, std::uint16_t last_avail_idx, bool event_idx);

    const virtio::SplitVirtqView& view() const noexcept { return view_; }
    std::uint16_t size() const noexcept { return view_.size(); }
    std::uint16_t last_avail_idx() const noexcept { return last_avail_; }
    bool event_idx() const noexcept { return event_idx_; }

    // Entries published and not yet taken; empty (with `why`) when the avail
    // index is more than a queue ahead.
    std::optional<std::uint16_t> available(std::string& why) const;
    // Whether there is anything to take (no validation: for polling).
    bool has_available() const noexcept { return view_.avail_idx() != last_avail_; }

    // The head of the next entry, taken (last_avail_idx moves on); empty
    // (with `why`) when it is out of range. Call only after available() > 0.
    std::optional<std::uint16_t> take_head(std::string& why);

    // Fills the next used element; the driver sees it at flush_used().
    void add_used(std::uint32_t head, std::uint32_t len);
    bool has_unpublished_used() const noexcept { return used_ != published_used_; }
    // Publishes what add_used() filled since the last call; true when the
    // driver asked to be notified of it (used_event with EVENT_IDX,
    // VIRTQ_AVAIL_F_NO_INTERRUPT without), §2.7.7. False when nothing was new.
    bool flush_used();

    // While the device polls its ring, kicks are not needed: without
    // EVENT_IDX set VIRTQ_USED_F_NO_NOTIFY; with it, avail_event is simply
    // left where it was (Linux vhost_disable_notify).
    void disable_notify();
    // Before sleeping: ask for a kick at the next entry (avail_event, or
    // clear NO_NOTIFY), full barrier, look again. True when entries arrived
    // meanwhile: then do not sleep (vhost_enable_notify).
    bool enable_notify();

  private:
    virtio::SplitVirtqView view_;
    std::uint16_t last_avail_;
    std::uint16_t used_;            // next used element to fill
    std::uint16_t published_used_;  // the used idx the driver sees
    bool event_idx_;
};

}  // namespace pvsim::backend::vhost_user_blk
