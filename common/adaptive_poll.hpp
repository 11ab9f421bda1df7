// The adaptive polling window of every data-plane loop (blkback, blkfront,
// the vhost-user-blk device and the virtio-blk driver alike: DESIGN.md §10),
// as QEMU sizes its iothreads' busy-wait (util/aio-posix.c, adjust_polling_time,
// with poll-max-ns, poll-grow and poll-shrink): before sleeping, a loop
// keeps checking for work for up to window(); once it knows how long it
// really waited for work (`waited`, from the start of polling to the work),
// it reports that here and the window adapts:
//   waited <= window               the sweet spot: unchanged
//   waited >  max                  polling that long would not pay: shrink
//   otherwise (window < waited <= max)  a longer window would have caught it: grow
// A max of zero turns polling off (poll-us=0).
#pragma once

#include <chrono>
#include <thread>

namespace pvsim {

// One step of a polling loop: the x86 PAUSE hint, so that a spinning loop
// leaves the sibling hyperthread its share and does not flood the memory
// system with speculative loads (elsewhere a yield).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
}

// Spins until `ready()` says so (true) or `deadline` passes (false). The
// clock is read once every kSpinsPerClockRead checks, not at each: a
// steady_clock read costs about as much as a check of a ring index, and
// reading it on every spin put it among a QD1 backend's top symbols.
// Overshooting the deadline by 64 checks is far below the window's 4 µs
// steps.
template <class Clock, class Ready>
bool spin_until(typename Clock::time_point deadline, Ready&& ready) {
    constexpr int kSpinsPerClockRead = 64;
    while (Clock::now() < deadline) {
        for (int i = 0; i < kSpinsPerClockRead; ++i) {
            if (ready()) {
                return true;
            }
            cpu_relax();
        }
    }
    return false;
}

class AdaptivePoll {
  public:
    using Duration = std::chrono::nanoseconds;

    // Grow by 2 from 4 µs, as QEMU does by default. Shrink by 2 (QEMU's
    // poll-shrink=2; its default of 0 drops straight to 0), so that one long
    // idle spell does not throw away the window a busy vbd has built up;
    // below 4 µs it is 0. The window starts at `max`, so a vbd polls from
    // its first request.
    static constexpr Duration kGrowStart = std::chrono::microseconds(4);
    static constexpr unsigned kGrow = 2;
    static constexpr unsigned kShrink = 2;

    explicit AdaptivePoll(Duration max)
        : max_(max < Duration::zero() ? Duration::zero() : max), window_(max_) {}

    Duration max() const noexcept { return max_; }
    Duration window() const noexcept { return window_; }
    bool enabled() const noexcept { return max_ > Duration::zero(); }

    // How long work took to show up after polling started (or, for a loop
    // that slept, from the end of its last work to the event that woke it).
    void record(Duration waited) noexcept;
    // A new maximum (a vbd's poll-us changed); the window stays within it.
    void set_max(Duration max) noexcept;

  private:
    Duration max_;
    Duration window_;
};

}  // namespace pvsim
