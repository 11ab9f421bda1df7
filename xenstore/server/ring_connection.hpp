// A guest's connection to pvsim-xenstored: its xenstore ring page (struct
// xenstore_domain_interface, xen/io/xs_wire.h) mapped here and its event
// channel bound to ours, after XS_INTRODUCE. The byte rings are moved with
// common/xen/xs_ring; this side follows C xenstored (tools/xenstored/
// domain.c: readchn, writechn, do_introduce, ignore_connection):
//  - requests are read when the guest's event fires (and once at start);
//    the guest is notified after every round that moved bytes either way;
//  - server_features advertises XENSTORE_SERVER_FEATURE_ERROR, and a guest
//    that asked to reconnect (connection = XENSTORE_RECONNECT) is told
//    XENSTORE_CONNECTED and notified;
//  - indices a ring cannot have, or a header longer than the payload limit,
//    stop the ring for good: `error` says why (XENSTORE_ERROR_RINGIDX /
//    _PROTO) and nothing more is read or written. The domain stays
//    introduced until it is released or dies, as with C xenstored.
//
// One difference: C xenstored zeroes the ring indices on every
// XS_INTRODUCE (domain_conn_reset). A Xen guest is paused until introduced,
// so nothing is lost there; a pvsim guest runs from its creation and may
// have queued requests already, so the first introduction keeps them and
// only a repeated one (the guest's ring being re-established) resets.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "xenstore/server/connection.hpp"
#include "xenstore/server/hypervisor_link.hpp"

namespace pvsim::xenstore::server {

class RingConnection final : public Connection {
  public:
    RingConnection(boost::asio::io_context& io, ConnectionId id, xen::DomId domid,
                   std::unique_ptr<ForeignRing> ring, const ConnectionLimits& limits,
                   ConnectionOwner& owner);

    std::string describe() const override;

    // A repeated XS_INTRODUCE (do_introduce, domain_conn_reset): the port
    // is unbound, then bound anew with rebind(), which starts the ring over:
    // indices zeroed, the request being read and everything queued for the
    // guest dropped. The page stays mapped.
    void unbind();
    void rebind(hypervisor::EventChannel channel);

  protected:
    std::size_t read_some(std::span<char> buffer) override;
    std::size_t write_some(std::span<const char> data) override;
    void wait_input() override;
    void wait_output() override { wait_input(); }
    void round_done() override;
    void report_error(std::uint32_t error) noexcept override;
    void close_transport() noexcept override;

  private:
    // do_introduce(): features advertised, a reconnection completed.
    void prepare_page();
    void watch_event();
    void broken(const std::string& reason);

    boost::asio::io_context& io_;
    std::unique_ptr<ForeignRing> ring_;
    // A copy of the event channel's fd, for Asio to wait on.
    std::unique_ptr<boost::asio::posix::stream_descriptor> event_;
    bool waiting_ = false;
    std::uint64_t attachment_ = 0;  // counts bindings, to tell stale waits
    bool moved_ = false;            // bytes moved this round: the guest gets an event
};

}  // namespace pvsim::xenstore::server
