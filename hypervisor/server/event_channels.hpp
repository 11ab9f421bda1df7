// Event-channel hypercalls (xen/common/event_channel.c): alloc_unbound,
// bind_interdomain, send, close, unmask, status, on the port tables of a
// DomainTable's domains. Knows nothing of sockets, so the whole state
// machine can be driven directly.
//
// Each allocated port has an incoming eventfd made with it; its owner gets a
// copy, and the other end of an interdomain channel gets one as its notify
// fd, so that bound channels deliver without this process. Whenever a port's
// binding changes its generation word in the owner's shared info moves
// (hypervisor/protocol/shared_info.hpp), which tells a sender that its
// cached notify fd is stale.
#pragma once

#include <cstddef>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/xen/event_channel.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/server/domain.hpp"
#include "hypervisor/server/domain_table.hpp"

namespace pvsim::hypervisor::server {

class EventChannels {
  public:
    explicit EventChannels(DomainTable& domains) : domains_(domains) {}

    // Each returns 0 or a negative errno (Xen's), fills the OUT fields of
    // `op` and appends the fds the reply carries.

    // EVTCHNOP_alloc_unbound: one fd, the new port's incoming eventfd.
    int alloc_unbound(Domain& caller, ConnectionId connection, wire::EvtchnAllocUnbound& op,
                      std::vector<os::UniqueFd>& fds);
    // EVTCHNOP_bind_interdomain: two fds, the new port's incoming eventfd
    // (signalled: the new local port is pending) and its notify fd.
    int bind_interdomain(Domain& caller, ConnectionId connection, wire::EvtchnBindInterdomain& op,
                         std::vector<os::UniqueFd>& fds);
    // EVTCHNOP_send: delivered to an interdomain peer (notify fd attached),
    // dropped on an unbound port.
    int send(Domain& caller, wire::EvtchnPortOp& op, std::vector<os::UniqueFd>& fds);
    // EVTCHNOP_close.
    int close(Domain& caller, xen::EvtchnPort port);
    // EVTCHNOP_unmask: re-raises a pending port.
    int unmask(Domain& caller, xen::EvtchnPort port);
    // EVTCHNOP_status.
    int status(Domain& caller, wire::EvtchnStatusOp& op);
    // EVTCHNOP_bind_virq, VIRQ_DOM_EXC only: one fd, the port's incoming
    // eventfd.
    int bind_virq(Domain& caller, ConnectionId connection, wire::EvtchnBindVirq& op,
                  std::vector<os::UniqueFd>& fds);
    // send_global_virq(VIRQ_DOM_EXC): a domain died or was destroyed. Raised
    // on every domain that bound it.
    void raise_dom_exc();

    // Closes every port `connection` made (a closed dom0 connection), or
    // every port of the domain (its death); peers become unbound. Returns
    // how many.
    std::size_t close_connection(Domain& domain, ConnectionId connection);
    std::size_t close_all(Domain& domain);

  private:
    static bool allocated(const Domain& domain, xen::EvtchnPort port);
    static xen::EvtchnPort free_port(const Domain& domain);
    static void bump_generation(const Domain& domain, xen::EvtchnPort port);
    static void open_port(Domain& domain, xen::EvtchnPort port, Port entry,
                          std::vector<os::UniqueFd>& fds);
    void close_port(Domain& domain, xen::EvtchnPort port);

    DomainTable& domains_;
};

}  // namespace pvsim::hypervisor::server
