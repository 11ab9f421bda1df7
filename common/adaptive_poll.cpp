#include "common/adaptive_poll.hpp"

namespace pvsim {

void AdaptivePoll::record(Duration waited) noexcept {
    if (!enabled() || waited <= window_) {
        return;
    }
    if (waited > max_) {
        window_ /= kShrink;
        if (window_ < kGrowStart) {
            window_ = Duration::zero();
        }
        return;
    }
    if (window_ < max_) {
        window_ = window_ == Duration::zero() ? kGrowStart : window_ * kGrow;
        if (window_ > max_) {
            window_ = max_;
        }
    }
}

void AdaptivePoll::set_max(Duration max) noexcept {
    max_ = max < Duration::zero() ? Duration::zero() : max;
    if (window_ > max_) {
        window_ = max_;
    }
}

}  // namespace pvsim
