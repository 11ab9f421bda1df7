// Linux's late EOI for interdomain event channels, its fix for XSA-332
// (Linux 6.1 drivers/xen/events/events_base.c: xen_irq_lateeoi_locked(), as
// xen-blkback's xen_blkif_schedule() drives it with XEN_EOI_FLAG_SPURIOUS):
// an event after which the ring held no new request is spurious. After more
// than kThreshold of them in a row (the xenbus device's spurious_threshold,
// 1 unless changed in sysfs), the channel's next event is taken only
// 2^(n - 1 - kThreshold) jiffies later, at most HZ; a real event ends it.
// The count stops growing once 2^n reaches 4 * HZ, as Linux's does.
// Jiffies are 4 ms (CONFIG_HZ=250, Debian's kernels). A guest that notifies
// without cause so costs its ring's thread about one wake-up a second,
// instead of one per notification; requests it does put on its ring wait
// for the delay too, as they do on Linux.
//
// Pure logic, owned by one data-plane thread.
#pragma once

#include <algorithm>
#include <chrono>

namespace pvsim::backend::data_plane {

class LateEoi {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kJiffy{4};
    static constexpr unsigned kHz = 250;
    static constexpr unsigned kThreshold = 1;

    // After the pass an event started: whether it took requests. Returns how
    // long the next event must wait (zero: it need not).
    std::chrono::milliseconds event_handled(bool took_requests, Clock::time_point now) {
        if (took_requests) {
            spurious_ = 0;
            until_ = {};
            return {};
        }
        if ((1u << spurious_) < (kHz << 2)) {
            ++spurious_;
        }
        if (spurious_ <= kThreshold) {
            return {};
        }
        const unsigned jiffies = std::min(1u << (spurious_ - 1 - kThreshold), kHz);
        const std::chrono::milliseconds delay = jiffies * kJiffy;
        until_ = now + delay;
        return delay;
    }

    // How long events must still wait at `now`; zero when they need not.
    std::chrono::milliseconds holding(Clock::time_point now) const {
        if (now >= until_) {
            return {};
        }
        // Rounded up, so that a sleep of that long ends past until_.
        return std::chrono::ceil<std::chrono::milliseconds>(until_ - now);
    }

    // Spurious events in a row (saturated as above).
    unsigned spurious_in_a_row() const noexcept { return spurious_; }

  private:
    unsigned spurious_ = 0;
    Clock::time_point until_{};
};

}  // namespace pvsim::backend::data_plane
