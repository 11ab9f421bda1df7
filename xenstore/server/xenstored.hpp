// pvsim-xenstored's centre (DESIGN.md §1, §4): the store, the unix socket
// and its clients, the guests' rings, and the hypervisor link, on one
// single-threaded Asio io_context, as C xenstored runs one poll loop
// (tools/xenstored/core.c main()).
//
// It is the store's Outbox (replies and watch events go to the connection
// they name) and its DomainHooks (XS_INTRODUCE maps and binds a guest's
// ring, XS_RELEASE closes it). Domains that die are noticed through
// VIRQ_DOM_EXC and forgotten as C xenstored's domain_cleanup does.
//
// Without a hypervisor (none served the run when the daemon started) the
// socket is served all the same and XS_INTRODUCE is answered ENOSYS. Its
// connection to the hypervisor is the run's xenstored's (the hypervisor
// stops when it ends, unless stop() told it first that this is an orderly
// stop), and if it drops the host is down (DESIGN.md §1, "The
// host"): every introduced domain is forgotten, the run's shared memory a
// killed hypervisor left is removed, and the daemon stops.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/run_dir.hpp"
#include "xenstore/server/connection.hpp"
#include "xenstore/server/hypervisor_link.hpp"
#include "xenstore/server/ring_connection.hpp"
#include "xenstore/store/xenstore.hpp"

namespace pvsim::xenstore::server {

struct XenstoredOptions {
    store::Quotas quotas;
    // C xenstored's --timeout watch-event (see ConnectionLimits).
    std::chrono::milliseconds watch_event_timeout = std::chrono::seconds(20);
};

class Xenstored final : private store::Outbox, private store::DomainHooks, private ConnectionOwner {
  public:
    // Listens on the run's xenstored socket (mode 0600; the caller made
    // sure nobody else serves it and removed a stale socket file), and
    // connects to the hypervisor as dom0 if the run's control socket exists.
    Xenstored(boost::asio::io_context& io, const RunDir& run_dir, const XenstoredOptions& options);
    ~Xenstored() override;
    Xenstored(const Xenstored&) = delete;
    Xenstored& operator=(const Xenstored&) = delete;

    // Closes every connection and, having told the hypervisor that this is
    // an orderly stop (not the host's death), the hypervisor link; removes
    // the socket file and stops the io_context. Idempotent.
    void stop();

    bool hypervisor_connected() const noexcept { return hypervisor_ != nullptr; }
    // Why the daemon stopped on its own (the hypervisor went); empty when
    // it was told to stop.
    const std::string& host_failure() const noexcept { return host_failure_; }

  private:
    // store::Outbox
    void deliver(ConnectionId connection, const xen::xs::MessageHeader& header,
                 std::string_view payload) override;
    // store::DomainHooks
    int introduce(xen::DomId domid, std::uint64_t gfn, xen::EvtchnPort port) override;
    int reintroduce(xen::DomId domid, xen::EvtchnPort port) override;
    void release(xen::DomId domid) override;
    // ConnectionOwner
    void on_request(Connection& connection, const xen::xs::MessageHeader& header,
                    std::string_view payload, const std::shared_ptr<RequestToken>& token) override;
    void on_closed(Connection& connection, const std::string& reason) override;

    void connect_hypervisor();
    void accept();
    // VIRQ_DOM_EXC fired: domain.c check_domains().
    void check_domains();
    // A domain died or was destroyed: domain_cleanup() / destroy_domain().
    void domain_died(xen::DomId domid);
    void hypervisor_lost(const std::string& reason);

    boost::asio::io_context& io_;
    RunDir run_dir_;
    store::Quotas quotas_;
    ConnectionLimits limits_;
    // Before every connection: the rings map and bind through it.
    std::unique_ptr<HypervisorLink> hypervisor_;
    store::Xenstore store_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    std::map<ConnectionId, std::shared_ptr<Connection>> connections_;
    // Introduced domains and their rings (closed ones too, until released).
    std::map<xen::DomId, std::shared_ptr<RingConnection>> rings_;
    // Connections the store knows (Xenstore::connect'ed, not disconnected).
    std::set<ConnectionId> registered_;
    ConnectionId next_connection_ = 1;
    // The request being handled: what it delivers keeps it outstanding.
    std::shared_ptr<RequestToken> current_request_;
    ConnectionId current_requester_ = 0;
    std::string host_failure_;
    bool current_answered_ = false;
    bool stopped_ = false;
};

}  // namespace pvsim::xenstore::server
