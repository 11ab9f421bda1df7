// xs_wire messages over a guest's xenstore page (struct
// xenstore_domain_interface) and its event channel to xenstored, as a Linux
// guest's xenbus talks to the store (drivers/xen/xenbus/xenbus_comms.c): the
// guest writes requests into `req`, reads replies and watch events from
// `rsp`, sleeps on the event channel when it can go no further, and notifies
// when xenstored may be waiting for what it just did (common/xen/xs_ring.hpp
// decides when).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "common/os/event_fd.hpp"
#include "common/xen/xs_wire.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "xenstore/client/transport.hpp"

namespace pvsim::xenstore::client {

// The event channel as the ring transport uses it. The production one wraps
// the guest's hypervisor::EventChannel (StoreEventChannel); tests put an
// eventfd pair behind it.
class RingEvents {
  public:
    virtual ~RingEvents() = default;
    // Becomes readable when an event may be pending, for poll(2).
    virtual int fd() const = 0;
    // Takes a pending event if there is one; never blocks.
    virtual bool take() = 0;
    // Signals xenstored.
    virtual void notify() = 0;
};

// The guest's store event channel (start_info.store_evtchn; what
// hypervisor::Hypervisor::take_store_event_channel() hands out).
class StoreEventChannel final : public RingEvents {
  public:
    explicit StoreEventChannel(hypervisor::EventChannel channel);
    int fd() const override { return channel_.fd(); }
    bool take() override { return channel_.poll(); }
    void notify() override { channel_.notify(); }

  private:
    hypervisor::EventChannel channel_;
};

class RingTransport final : public Transport {
  public:
    // `page` must stay mapped for the transport's life.
    RingTransport(xen::xs::DomainInterface& page, std::unique_ptr<RingEvents> events);

    // Blocks while the req ring is full. Throws xen::xs::RingIndexError on
    // broken indexes, std::system_error(EPIPE) after shutdown().
    void send(const xen::xs::MessageHeader& header, std::string_view payload) override;
    // Throws xen::xs::RingIndexError on broken indexes.
    std::optional<Message> receive() override;
    void shutdown() noexcept override;

  private:
    // Blocks until `ready()` holds (true) or the transport is shut down
    // (false). Both a sender waiting for room and the receiver waiting for
    // bytes sleep on the one event channel, as Linux's xb_waitq: one of them
    // polls the fd at a time, takes the event and wakes the others, who all
    // look at the ring again.
    bool wait_until(const std::function<bool()>& ready);
    // Fills `buffer` from the rsp ring; false after shutdown().
    bool read_exactly(std::span<char> buffer);
    void notify();

    xen::xs::DomainInterface& page_;
    std::unique_ptr<RingEvents> events_;
    os::EventFd stop_;       // signalled by shutdown(), wakes the poller
    std::mutex send_mutex_;  // one message at a time on the req ring
    std::mutex mutex_;       // guards events_ and the members below
    std::condition_variable changed_;
    std::uint64_t generation_ = 0;  // events taken so far
    bool polling_ = false;          // a thread sleeps in poll(2) on the fd
    bool shut_down_ = false;
};

}  // namespace pvsim::xenstore::client
