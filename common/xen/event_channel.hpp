// Event channels (xen/event_channel.h, Xen 4.17): the few ABI values that
// pvsim's hypervisor, its client library and the drivers must agree on.
#pragma once

#include <cstdint>

namespace pvsim::xen {

// event_channel.h: evtchn_port_t.
using EvtchnPort = std::uint32_t;

// Port 0 is never handed out: Xen reserves it when it creates a domain's
// table (xen/common/event_channel.c: evtchn_init), and Linux treats 0 as "no
// channel" (VALID_EVTCHN). So 0 is the natural "none" value for a port.
inline constexpr EvtchnPort kInvalidEvtchnPort = 0;

// event_channel.h: EVTCHN_2L_NR_CHANNELS on x86-64 (xen_ulong_t is 64
// bits): one pending and one mask bit per port in shared_info, 64 words of
// 64 bits, with a per-vCPU selector word choosing among the 64 words.
inline constexpr unsigned kEvtchn2lBitsPerWord = 64;
inline constexpr EvtchnPort kEvtchn2lNrChannels = kEvtchn2lBitsPerWord * kEvtchn2lBitsPerWord;

// The word and bit of `port` in the 2-level pending and mask arrays.
constexpr unsigned evtchn_2l_word(EvtchnPort port) noexcept {
    return port / kEvtchn2lBitsPerWord;
}
constexpr unsigned evtchn_2l_bit(EvtchnPort port) noexcept {
    return port % kEvtchn2lBitsPerWord;
}

// event_channel.h: EVTCHN_FIFO_NR_CHANNELS (1 << EVTCHN_FIFO_LINK_BITS).
inline constexpr EvtchnPort kEvtchnFifoNrChannels = EvtchnPort{1} << 17;

// xen.h: VIRQ_DOM_EXC, the global virq raised when a domain shuts down or
// dies, so that xenstored can fire @releaseDomain.
inline constexpr std::uint32_t kVirqDomExc = 3;

// event_channel.h: EVTCHNSTAT_*, what EVTCHNOP_status reports of a port.
enum class EvtchnStat : std::uint32_t {
    closed = 0,       // EVTCHNSTAT_closed: not in use
    unbound = 1,      // EVTCHNSTAT_unbound: waiting for bind_interdomain
    interdomain = 2,  // EVTCHNSTAT_interdomain: connected to a remote port
    pirq = 3,         // EVTCHNSTAT_pirq
    virq = 4,         // EVTCHNSTAT_virq
    ipi = 5,          // EVTCHNSTAT_ipi
};

}  // namespace pvsim::xen
