// The shared-info object the hypervisor shares with each domain.
//
// Page 0 is Xen's `struct shared_info` for x86-64 (xen/xen.h): 32 vcpu_info
// slots of 64 bytes, then the 2-level event channel bitmaps evtchn_pending[64]
// at 2048 and evtchn_mask[64] at 2560, so a port's bits are where a Xen guest
// finds them. pvsim adds two pages Xen does not have:
//  - page 1, per-port binding generations, written by the hypervisor only.
//    A port's generation changes whenever its binding does (bound, remote
//    end closed, closed), so a sender that cached the peer's eventfd at
//    generation g may keep using it exactly while the word still reads g.
//  - page 2, counters the domain keeps itself for the work it does without
//    a hypercall (fast-path sends, deliveries), which the hypervisor reads
//    for its statistics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/xen/event_channel.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::hypervisor::wire {

// Ports per domain: 1 .. kMaxEvtchnPorts-1 (port 0 is never used). Xen's
// default for a guest is 1023 (libxl max_event_channels).
inline constexpr xen::EvtchnPort kMaxEvtchnPorts = 1024;

inline constexpr std::size_t kSharedInfoPages = 3;
inline constexpr std::size_t kSharedInfoBytes = kSharedInfoPages * xen::kXenPageSize;

// xen.h: struct shared_info, the part pvsim uses.
inline constexpr std::size_t kEvtchnPendingOffset = 2048;
inline constexpr std::size_t kEvtchnMaskOffset = 2560;
inline constexpr std::size_t kEvtchnWords = xen::kEvtchn2lBitsPerWord;  // 64 words of 64 bits

inline constexpr std::size_t kPortGenerationOffset = 1 * xen::kXenPageSize;
inline constexpr std::size_t kDomainCountersOffset = 2 * xen::kXenPageSize;

// Kept by the domain's own processes in page 2 (all fields atomic u64).
struct DomainCounters {
    std::uint64_t events_sent_fast;  // sends that went straight to the peer's eventfd
    std::uint64_t events_delivered;  // events handed to the domain's code
    std::uint64_t reserved[14];
};
static_assert(sizeof(DomainCounters) == 128);

// Typed access to one mapping of the object. Everything shared is accessed
// through std::atomic_ref: the hypervisor and the domain's processes change
// it concurrently.
class SharedInfoView {
  public:
    explicit SharedInfoView(std::byte* base) noexcept : base_(base) {}

    std::atomic_ref<std::uint64_t> pending_word(xen::EvtchnPort port) const noexcept {
        return word(kEvtchnPendingOffset, port);
    }
    std::atomic_ref<std::uint64_t> mask_word(xen::EvtchnPort port) const noexcept {
        return word(kEvtchnMaskOffset, port);
    }
    static constexpr std::uint64_t bit(xen::EvtchnPort port) noexcept {
        return std::uint64_t{1} << xen::evtchn_2l_bit(port);
    }
    std::atomic_ref<std::uint32_t> generation(xen::EvtchnPort port) const noexcept {
        return std::atomic_ref<std::uint32_t>(
            *reinterpret_cast<std::uint32_t*>(base_ + kPortGenerationOffset + 4 * port));
    }
    std::atomic_ref<std::uint64_t> events_sent_fast() const noexcept {
        return counter(offsetof(DomainCounters, events_sent_fast));
    }
    std::atomic_ref<std::uint64_t> events_delivered() const noexcept {
        return counter(offsetof(DomainCounters, events_delivered));
    }

  private:
    std::atomic_ref<std::uint64_t> word(std::size_t array, xen::EvtchnPort port) const noexcept {
        return std::atomic_ref<std::uint64_t>(
            *reinterpret_cast<std::uint64_t*>(base_ + array + 8 * xen::evtchn_2l_word(port)));
    }
    std::atomic_ref<std::uint64_t> counter(std::size_t field) const noexcept {
        return std::atomic_ref<std::uint64_t>(
            *reinterpret_cast<std::uint64_t*>(base_ + kDomainCountersOffset + field));
    }

    std::byte* base_;
};
static_assert(kMaxEvtchnPorts * 4 <= xen::kXenPageSize);
static_assert(kMaxEvtchnPorts <= xen::kEvtchn2lNrChannels);

}  // namespace pvsim::hypervisor::wire
