// pvsim-xenstored's dom0 connection to pvsim-hypervisor: what C xenstored
// gets from libxenctrl, libxengnttab and libxenevtchn (tools/xenstored/
// domain.c). Maps a guest's xenstore ring page and binds its event channel
// for XS_INTRODUCE; binds VIRQ_DOM_EXC and reports each firing, after which
// the daemon asks domain_gone() of every introduced domain (check_domains()
// in domain.c); notices when the connection itself drops.
//
// The hypercalls block, as the ioctls behind those libraries do in C
// xenstored's single loop: each is a short round trip to a local process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/xs_wire.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::xenstore::server {

// One guest's xenstore ring page mapped here (dom0's foreign map, as C
// xenstored's map_interface()) and its event channel bound to ours. Unbinds
// and unmaps when destroyed.
class ForeignRing {
  public:
    ForeignRing(hypervisor::Hypervisor& hypervisor, xen::GrantHandle handle, std::byte* page,
                hypervisor::EventChannel channel);
    ~ForeignRing();
    ForeignRing(const ForeignRing&) = delete;
    ForeignRing& operator=(const ForeignRing&) = delete;

    xen::xs::DomainInterface& interface() const noexcept {
        return *reinterpret_cast<xen::xs::DomainInterface*>(page_);
    }
    hypervisor::EventChannel& channel() noexcept { return channel_; }
    // Unbinds the port (EVTCHNOP_close), for a re-introduction to bind the
    // guest's port again; the page stays mapped.
    void close_channel() noexcept;
    void set_channel(hypervisor::EventChannel channel) { channel_ = std::move(channel); }

  private:
    hypervisor::Hypervisor& hypervisor_;
    xen::GrantHandle handle_;
    std::byte* page_;
    hypervisor::EventChannel channel_;
};

class HypervisorLink {
  public:
    struct Events {
        // VIRQ_DOM_EXC fired: some domain died or its memory was released.
        std::function<void()> domain_exception;
        // The connection to the hypervisor is gone (it stopped or crashed).
        std::function<void(const std::string& reason)> lost;
    };

    // Takes over a dom0 connection and binds VIRQ_DOM_EXC (without it the
    // link still maps and binds, and says so in the log).
    HypervisorLink(boost::asio::io_context& io, hypervisor::Hypervisor hypervisor, Events events);
    ~HypervisorLink();
    HypervisorLink(const HypervisorLink&) = delete;
    HypervisorLink& operator=(const HypervisorLink&) = delete;

    // Maps frame `gfn` of `domid` and binds to its port `port`. On failure
    // returns null and sets `error` to the errno XS_INTRODUCE answers.
    std::unique_ptr<ForeignRing> open_ring(xen::DomId domid, std::uint64_t gfn,
                                           xen::EvtchnPort port, int& error);
    // Binds to `port` of `domid` (EVTCHNOP_bind_interdomain). On failure
    // returns no port and sets `error` to the errno to answer.
    hypervisor::EventChannel bind(xen::DomId domid, xen::EvtchnPort port, int& error);

    // Whether `domid` no longer runs: unknown to the hypervisor (ESRCH) or
    // dying (domain.c check_domain(): XEN_DOMINF_dying). Throws
    // HypercallError when the question cannot be asked.
    bool domain_gone(xen::DomId domid);

    // Whether VIRQ_DOM_EXC is bound, i.e. deaths are noticed.
    bool watching_deaths() const noexcept { return virq_.has_value(); }

    // Stops watching (the virq and the connection); the rings opened through
    // this link must be destroyed before the link is.
    void close() noexcept;

  private:
    void wait_virq();
    void wait_connection();
    void report_lost(const std::string& reason);

    boost::asio::io_context& io_;
    hypervisor::Hypervisor hypervisor_;
    Events events_;
    std::optional<hypervisor::EventChannel> virq_;
    std::unique_ptr<boost::asio::posix::stream_descriptor> virq_wait_;
    // A copy of the hypercall socket, watched for the end of the stream.
    std::unique_ptr<boost::asio::posix::stream_descriptor> connection_wait_;
    bool closed_ = false;
    // Shared with the pending handlers, which may outlive a closed link.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pvsim::xenstore::server
