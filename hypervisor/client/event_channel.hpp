// One local event channel port of a domain (xen/event_channel.h), as a
// domain's code uses it: wait for or poll its events, notify the other end,
// mask and unmask, close.
//
// Delivery: every port has an incoming eventfd, made by the hypervisor when
// the port is allocated or bound and never reused for another binding. The
// other end's notify fd is a copy of it, so once a channel is bound a send
// is one write(2) straight to the peer. What stays Xen's:
//  - pending: the eventfd counter is folded into the port's bit in
//    evtchn_pending (shared_info) when the receiver looks; the bit is
//    test-and-set, so sends coalesce while pending;
//  - mask: a masked port's events stay pending and are not delivered;
//    unmask re-raises a pending event (EVTCHNOP_unmask);
//  - unbound or closed: a send whose port is not bound is dropped. The first
//    send after a bind, and every send after the binding changed (the port's
//    generation word in shared_info moved), is an EVTCHNOP_send hypercall,
//    which drops it or hands back the peer's fd for the next ones.
//
// Not thread-safe: one port belongs to one loop. Closes the port (a
// hypercall) when destroyed, unless the connection is gone. Move-only; a
// default-constructed or moved-from object has no port, fd() is -1, and
// everything but close() throws std::logic_error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "common/os/event_fd.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor {

struct Session;  // the connection state EventChannel shares with Hypervisor

class EventChannel {
  public:
    EventChannel() = default;  // no port
    EventChannel(std::shared_ptr<Session> session, xen::EvtchnPort port, os::EventFd incoming);
    EventChannel(EventChannel&& other) noexcept;
    EventChannel& operator=(EventChannel&& other) noexcept;
    ~EventChannel();

    xen::EvtchnPort port() const noexcept { return port_; }
    explicit operator bool() const noexcept { return port_ != xen::kInvalidEvtchnPort; }

    // The fd that becomes readable when an event may be pending, for poll(2)
    // or an Asio descriptor. Readable does not mean deliverable: call poll().
    int fd() const noexcept { return incoming_ ? incoming_->fd() : -1; }

    // Takes the pending event if there is one and the port is not masked:
    // true once per coalesced batch of sends. Never blocks.
    bool poll();
    // Blocks until poll() would return true, then takes the event.
    void wait();

    // EVTCHNOP_send to the other end: straight to the peer's eventfd while
    // the cached binding is current, else a hypercall. Dropped when unbound.
    void notify();

    // Sets / clears the port's mask bit in shared_info. unmask() of a port
    // with an event pending re-raises it (EVTCHNOP_unmask), so a waiter wakes.
    void mask();
    void unmask();
    bool masked() const;
    bool pending() const;

    // EVTCHNOP_close now (destruction does it too). Idempotent.
    void close();

  private:
    friend class Hypervisor;
    // Remembers the peer's incoming eventfd, valid while this port's
    // generation word reads `generation` (bind_interdomain and send replies).
    void cache_notify(os::EventFd notify, std::uint32_t generation);
    Session& session() const;

    std::shared_ptr<Session> session_;
    xen::EvtchnPort port_ = xen::kInvalidEvtchnPort;
    // Optional so that an EventChannel without a port holds no fd.
    std::optional<os::EventFd> incoming_;
    // The peer's incoming eventfd and the generation it was valid at.
    std::optional<os::EventFd> notify_;
    std::uint32_t notify_generation_ = 0;
};

}  // namespace pvsim::hypervisor
