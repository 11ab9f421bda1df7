// The xenstore itself: the tree, permissions, watches, transactions and
// per-domain quotas, and what every request type does to them (DESIGN.md
// §4; xen/io/xs_wire.h; the C xenstored in tools/xenstored/ where the
// header is silent). Pure logic: no sockets, no rings, no hypervisor. The
// daemon (xenstore/server/) owns the connections, feeds each complete
// request to handle() and writes out whatever the Outbox is given.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::store {

// Names one connection for the life of the daemon; never reused.
using ConnectionId = std::uint64_t;

// Per-domain limits (the C daemon's -E, -W, -t, -S and quota options). dom0
// is not subject to them, as in the C daemon. Exceeding one is answered with
// the errno C xenstored uses: ENOSPC, and E2BIG for watches (it has no
// EQUOTA; that string is oxenstored's, and not in xsd_errors).
struct Quotas {
    std::size_t nodes = 1000;               // nodes a domain may own
    std::size_t node_size = 2048;           // bytes per node, counted as C xenstored does:
                                            // 16 + 8 per permission + value + child names
    std::size_t watches = 128;              // watches per connection
    std::size_t transactions = 10;          // open transactions per connection
    std::size_t outstanding_requests = 20;  // replies queued, not yet taken (enforced by
                                            // the daemon, which stops reading the ring)
    std::size_t node_permissions = 5;       // entries in one XS_SET_PERMS
    std::size_t transaction_nodes = 1024;   // distinct nodes one transaction may touch
    // Bytes a domain holds in the store (C xenstored's memory quota, Xen
    // 4.17 domain.c: domain_memory_add(), domain_chk_quota()): its nodes
    // (accounted size and name), its connections' watches (path and token)
    // and its open transactions' copies of the nodes they wrote. A change
    // that would take a domain to memory_hard is refused with ENOMEM;
    // passing memory_soft is logged. Zero turns either off.
    std::size_t memory_soft = 2 * 1024 * 1024;
    std::size_t memory_hard = 2 * 1024 * 1024 + 512 * 1024;
};

// Where replies and watch events go. deliver() must not call back into
// Xenstore; the daemon queues the bytes for the connection's transport.
// Replies carry the request's type (XS_ERROR for errors, payload the errno's
// xsd_errors name, nul-terminated), req_id and tx_id; XS_WATCH_EVENT
// messages carry req_id 0 and tx_id 0. A request's watch events come before
// its reply, except XS_WATCH's first event, which follows the reply.
class Outbox {
  public:
    virtual ~Outbox() = default;
    virtual void deliver(ConnectionId connection, const xen::xs::MessageHeader& header,
                         std::string_view payload) = 0;
};

// What XS_INTRODUCE and XS_RELEASE need from the daemon's I/O side: mapping a
// guest's ring page and binding its event channel are the hypervisor's
// business, not the store's.
class DomainHooks {
  public:
    virtual ~DomainHooks() = default;
    // Maps `gfn` of `domid` as its xenstore ring, binds `port`, and opens a
    // ring connection for it, which the daemon then registers with
    // Xenstore::connect() (it may do so from inside this call). Returns 0 or
    // the errno to answer. Called only for a domain not introduced yet.
    virtual int introduce(xen::DomId domid, std::uint64_t gfn, xen::EvtchnPort port) = 0;
    // XS_INTRODUCE of a domain already introduced: C xenstored re-binds the
    // event channel to `port` and resets the ring (indexes to 0, queued
    // output dropped) but keeps the connection; the store has already dropped
    // that connection's watches and transactions. Returns 0 or the errno to
    // answer. The default keeps the ring and binding as they are.
    virtual int reintroduce(xen::DomId /*domid*/, xen::EvtchnPort /*port*/) { return 0; }
    // Closes the domain's ring connection (after Xenstore::connect'ed ones
    // were disconnected) and unmaps its page. Called for XS_RELEASE and for
    // Xenstore::domain_gone() of an introduced domain alike; it may call
    // Xenstore::disconnect(), which is then a no-op.
    virtual void release(xen::DomId domid) = 0;
};

class Xenstore {
  public:
    // The initial tree: "/", "/local/domain", "/tool/xenstored" and the
    // special nodes @introduceDomain and @releaseDomain, all "n0".
    Xenstore(const Quotas& quotas, Outbox& outbox, DomainHooks& hooks);
    ~Xenstore();
    Xenstore(const Xenstore&) = delete;
    Xenstore& operator=(const Xenstore&) = delete;

    // A new connection speaking as `domid`: socket connections are dom0
    // (privileged), ring connections are their guest's. Relative paths
    // resolve under /local/domain/<domid>. Throws std::invalid_argument if
    // the id is already connected.
    void connect(ConnectionId connection, xen::DomId domid);
    // The connection is gone: its watches and open transactions go with it.
    // Unknown ids (already dropped by XS_RELEASE) are ignored.
    void disconnect(ConnectionId connection);

    // One complete request (the header's len equals payload.size(), at
    // most kPayloadMax; otherwise std::invalid_argument: framing is the
    // daemon's job). Replies, and watch events the request causes on any
    // connection, go to the Outbox before this returns. Every bad request is
    // answered with XS_ERROR; none throws. Requests on a connection XS_RELEASE
    // dropped are ignored.
    void handle(ConnectionId connection, const xen::xs::MessageHeader& header,
                std::string_view payload);

    // The domain died or was destroyed (not an XS_RELEASE): forget it as
    // XS_RELEASE would (its connections, and the nodes it owns) and, if it
    // was introduced, call DomainHooks::release and fire @releaseDomain.
    void domain_gone(xen::DomId domid);

    // Whether XS_INTRODUCE has introduced `domid` and it was not released;
    // always true for dom0, which C xenstored introduces itself.
    bool introduced(xen::DomId domid) const;

    // The quotas in force, as XS_CONTROL "quota set" left them; the daemon
    // reads outstanding_requests here.
    const Quotas& quotas() const;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace pvsim::xenstore::store
