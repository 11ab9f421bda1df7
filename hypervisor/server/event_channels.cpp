#include "hypervisor/server/event_channels.hpp"

#include <cerrno>

namespace pvsim::hypervisor::server {
namespace {

void clear_pending(const Domain& domain, xen::EvtchnPort port) {
    domain.shared_info().pending_word(port).fetch_and(~wire::SharedInfoView::bit(port));
}

void clear_mask(const Domain& domain, xen::EvtchnPort port) {
    domain.shared_info().mask_word(port).fetch_and(~wire::SharedInfoView::bit(port));
}

}  // namespace

bool EventChannels::allocated(const Domain& domain, xen::EvtchnPort port) {
    return port != xen::kInvalidEvtchnPort && port < wire::kMaxEvtchnPorts &&
           domain.ports[port].state != PortState::free;
}

// event_channel.c: get_free_port, the lowest free port (0 is reserved).
xen::EvtchnPort EventChannels::free_port(const Domain& domain) {
    for (xen::EvtchnPort port = 1; port < wire::kMaxEvtchnPorts; ++port) {
        if (domain.ports[port].state == PortState::free) {
            return port;
        }
    }
    return xen::kInvalidEvtchnPort;
}

void EventChannels::bump_generation(const Domain& domain, xen::EvtchnPort port) {
    auto generation = domain.shared_info().generation(port);
    generation.store(generation.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

// A fresh binding on a free port: not pending, not masked, a new
// generation, and its incoming eventfd for the caller.
void EventChannels::open_port(Domain& domain, xen::EvtchnPort port, Port entry,
                              std::vector<os::UniqueFd>& fds) {
    domain.ports[port] = std::move(entry);
    clear_pending(domain, port);
    clear_mask(domain, port);
    bump_generation(domain, port);
    fds.push_back(domain.ports[port].incoming->duplicate());
}

int EventChannels::alloc_unbound(Domain& caller, ConnectionId connection,
                                 wire::EvtchnAllocUnbound& op, std::vector<os::UniqueFd>& fds) {
    // evtchn_alloc_unbound (Xen 4.17), in its order of checks: the domain
    // the port is made in, a free port there, then xsm_evtchn_unbound
    // (XSM_TARGET: the domain itself, or a privileged caller). remote_dom is
    // not looked up: a port offered to a domain that does not exist can
    // never be bound, and DOMID_SELF there means the caller, not `dom`.
    Domain* domain = domains_.find_running(resolve_domid_self(op.dom, caller));
    if (domain == nullptr) {
        return -ESRCH;
    }
    const xen::EvtchnPort port = free_port(*domain);
    if (port == xen::kInvalidEvtchnPort) {
        return -ENOSPC;
    }
    const bool own = domain == &caller;
    if (!own && caller.domid() != 0) {
        return -EPERM;
    }
    const xen::DomId remote = op.remote_dom == xen::kDomidSelf ? caller.domid() : op.remote_dom;
    // A port made in another domain belongs to that domain, not to the
    // caller's connection: it outlives the caller, and no fd goes back.
    std::vector<os::UniqueFd> incoming;
    open_port(
        *domain, port,
        Port{PortState::unbound, remote, 0, 0, own ? connection : kNoConnection, os::EventFd()},
        incoming);
    if (own) {
        fds.push_back(std::move(incoming.front()));
    }
    op.port = port;
    return 0;
}

int EventChannels::bind_interdomain(Domain& caller, ConnectionId connection,
                                    wire::EvtchnBindInterdomain& op,
                                    std::vector<os::UniqueFd>& fds) {
    // evtchn_bind_interdomain, in its order of checks.
    Domain* remote = domains_.find_running(resolve_domid_self(op.remote_dom, caller));
    if (remote == nullptr) {
        return -ESRCH;
    }
    const xen::EvtchnPort local_port = free_port(caller);
    if (local_port == xen::kInvalidEvtchnPort) {
        return -ENOSPC;
    }
    const xen::EvtchnPort remote_port = op.remote_port;
    if (remote_port == xen::kInvalidEvtchnPort || remote_port >= wire::kMaxEvtchnPorts) {
        return -EINVAL;
    }
    Port& theirs = remote->ports[remote_port];
    if (theirs.state != PortState::unbound || theirs.remote_dom != caller.domid()) {
        return -EINVAL;
    }
    Port& ours = caller.ports[local_port];
    ours = Port{PortState::interdomain, remote->domid(), remote_port, 0, connection, os::EventFd()};
    clear_pending(caller, local_port);
    clear_mask(caller, local_port);
    theirs.state = PortState::interdomain;
    theirs.remote_dom = caller.domid();
    theirs.remote_port = local_port;
    bump_generation(caller, local_port);
    bump_generation(*remote, remote_port);
    // "We may have lost notifications on the remote unbound port. Fix that
    // up here by conservatively always setting a notification on the local
    // port."
    ours.incoming->signal();
    op.local_port = local_port;
    op.generation = caller.shared_info().generation(local_port).load(std::memory_order_acquire);
    fds.push_back(ours.incoming->duplicate());
    fds.push_back(theirs.incoming->duplicate());
    return 0;
}

int EventChannels::send(Domain& caller, wire::EvtchnPortOp& op, std::vector<os::UniqueFd>& fds) {
    // evtchn_send.
    if (!allocated(caller, op.port)) {
        return -EINVAL;
    }
    const Port& port = caller.ports[op.port];
    op.delivered = 0;
    op.generation = caller.shared_info().generation(op.port).load(std::memory_order_acquire);
    if (port.state == PortState::virq) {
        return -EINVAL;  // evtchn_send's default case
    }
    if (port.state != PortState::interdomain) {
        return 0;  // ECS_UNBOUND: "silently drop the notification"
    }
    Domain* remote = domains_.find(port.remote_dom);
    if (remote == nullptr) {
        return 0;
    }
    Port& peer = remote->ports[port.remote_port];
    peer.incoming->signal();
    ++caller.counters.events_sent;
    op.delivered = 1;
    fds.push_back(peer.incoming->duplicate());
    return 0;
}

void EventChannels::close_port(Domain& domain, xen::EvtchnPort port) {
    // evtchn_close: the peer of an interdomain channel falls back to
    // unbound, bindable again by the domain that closed.
    Port& entry = domain.ports[port];
    if (entry.state == PortState::interdomain) {
        if (Domain* remote = domains_.find(entry.remote_dom); remote != nullptr) {
            Port& peer = remote->ports[entry.remote_port];
            if (peer.state == PortState::interdomain && peer.remote_dom == domain.domid() &&
                peer.remote_port == port) {
                peer.state = PortState::unbound;
                peer.remote_dom = domain.domid();
                peer.remote_port = 0;
                bump_generation(*remote, entry.remote_port);
            }
        }
    }
    entry = Port{};
    clear_pending(domain, port);
    bump_generation(domain, port);
}

int EventChannels::close(Domain& caller, xen::EvtchnPort port) {
    if (!allocated(caller, port)) {
        return -EINVAL;
    }
    close_port(caller, port);
    return 0;
}

int EventChannels::unmask(Domain& caller, xen::EvtchnPort port) {
    // evtchn_unmask / evtchn_2l_unmask: clear the mask and, if the port is
    // pending, raise it again so a waiter wakes.
    if (!allocated(caller, port)) {
        return -EINVAL;
    }
    const auto info = caller.shared_info();
    const std::uint64_t bit = wire::SharedInfoView::bit(port);
    info.mask_word(port).fetch_and(~bit);
    if ((info.pending_word(port).load() & bit) != 0) {
        caller.ports[port].incoming->signal();
    }
    return 0;
}

int EventChannels::status(Domain& caller, wire::EvtchnStatusOp& op) {
    // evtchn_status: look the domain up, then check the caller may see it
    // (XSM_TARGET: itself, or a privileged caller).
    const xen::DomId domid = resolve_domid_self(op.dom, caller);
    const Domain* domain = domains_.find(domid);
    if (domain == nullptr) {
        return -ESRCH;
    }
    if (domid != caller.domid() && caller.domid() != 0) {
        return -EPERM;
    }
    if (op.port >= wire::kMaxEvtchnPorts) {
        return -EINVAL;
    }
    const Port& port = domain->ports[op.port];
    op.remote_dom = 0;
    op.remote_port = 0;
    switch (port.state) {
        case PortState::free:
            op.status = static_cast<std::uint32_t>(xen::EvtchnStat::closed);
            break;
        case PortState::unbound:
            op.status = static_cast<std::uint32_t>(xen::EvtchnStat::unbound);
            op.remote_dom = port.remote_dom;
            break;
        case PortState::interdomain:
            op.status = static_cast<std::uint32_t>(xen::EvtchnStat::interdomain);
            op.remote_dom = port.remote_dom;
            op.remote_port = port.remote_port;
            break;
        case PortState::virq:
            op.status = static_cast<std::uint32_t>(xen::EvtchnStat::virq);
            break;
    }
    return 0;
}

int EventChannels::bind_virq(Domain& caller, ConnectionId connection, wire::EvtchnBindVirq& op,
                             std::vector<os::UniqueFd>& fds) {
    // evtchn_bind_virq: a global virq binds on vcpu 0 only; its handler is
    // the hardware domain unless XEN_DOMCTL_set_virq_handler moved it.
    if (op.virq != xen::kVirqDomExc || op.vcpu != 0) {
        return -EINVAL;
    }
    if (caller.domid() != 0) {
        return -EPERM;
    }
    for (xen::EvtchnPort port = 1; port < wire::kMaxEvtchnPorts; ++port) {
        if (caller.ports[port].state == PortState::virq && caller.ports[port].virq == op.virq) {
            return -EEXIST;
        }
    }
    const xen::EvtchnPort port = free_port(caller);
    if (port == xen::kInvalidEvtchnPort) {
        return -ENOSPC;
    }
    open_port(caller, port, Port{PortState::virq, 0, 0, op.virq, connection, os::EventFd()}, fds);
    op.port = port;
    return 0;
}

void EventChannels::raise_dom_exc() {
    for (const auto& [domid, domain] : domains_.domains()) {
        for (xen::EvtchnPort port = 1; port < wire::kMaxEvtchnPorts; ++port) {
            Port& entry = domain->ports[port];
            if (entry.state == PortState::virq && entry.virq == xen::kVirqDomExc) {
                entry.incoming->signal();
            }
        }
    }
}

std::size_t EventChannels::close_connection(Domain& domain, ConnectionId connection) {
    std::size_t closed = 0;
    for (xen::EvtchnPort port = 1; port < wire::kMaxEvtchnPorts; ++port) {
        if (domain.ports[port].state != PortState::free && domain.ports[port].owner == connection) {
            close_port(domain, port);
            ++closed;
        }
    }
    return closed;
}

std::size_t EventChannels::close_all(Domain& domain) {
    std::size_t closed = 0;
    for (xen::EvtchnPort port = 1; port < wire::kMaxEvtchnPorts; ++port) {
        if (domain.ports[port].state != PortState::free) {
            close_port(domain, port);
            ++closed;
        }
    }
    return closed;
}

}  // namespace pvsim::hypervisor::server
