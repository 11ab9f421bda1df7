// One client of pvsim-xenstored, whatever its transport: the unix socket
// (privileged, dom0) or a guest's xenstore ring page. The parts C xenstored
// keeps in struct connection (tools/xenstored/core.c): the input being
// framed, the output list, and the "outstanding requests" quota.
//
// Outstanding requests (C xenstored's ACC_OUTST, domain_can_read()): a
// request stays outstanding until its reply has been handed to the
// transport (written into the socket or the ring) and so has every watch
// event it caused, on any connection. While an unprivileged connection has
// Quotas::outstanding_requests of them, its requests are not read: they stay
// in the guest's ring, which fills, and the guest waits. dom0 is exempt, as
// in C xenstored. What lets a guest's watch events pile up is bounded by the
// same rule on the guest that causes them, and by a time limit: a watch
// event an unprivileged guest has not begun to take within
// ConnectionLimits::watch_event_timeout is dropped (C xenstored's
// --timeout watch-event, check_event_timeout()), so that a guest that never
// reads cannot hold up the guests whose requests caused its events.
//
// Everything runs on the daemon's one Asio thread. Output is written from a
// posted handler, never from inside Outbox::deliver(), so the store is never
// re-entered, and what one request causes reaches a guest with one event.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/xen/xs_wire.hpp"
#include "xenstore/server/frame_reader.hpp"
#include "xenstore/store/xenstore.hpp"

namespace pvsim::xenstore::server {

using store::ConnectionId;

class Connection;

// What an unprivileged connection may hold up.
struct ConnectionLimits {
    // Quotas::outstanding_requests (C xenstored's -Q outstanding=).
    std::size_t outstanding_requests = 20;
    // How long a watch event may wait for the guest to take it; zero keeps
    // it forever (C xenstored's -w watch-event=, 20 s by default).
    std::chrono::milliseconds watch_event_timeout = std::chrono::seconds(20);
};

// Keeps one request outstanding while it is alive: held by the reply and by
// every watch event the request caused until each is written out.
class RequestToken {
  public:
    explicit RequestToken(std::weak_ptr<Connection> requester) : requester_(std::move(requester)) {}
    ~RequestToken();
    RequestToken(const RequestToken&) = delete;
    RequestToken& operator=(const RequestToken&) = delete;

  private:
    std::weak_ptr<Connection> requester_;
};

// What a connection reports to the daemon.
class ConnectionOwner {
  public:
    virtual ~ConnectionOwner() = default;
    // One complete, well-framed request. `token` is the request's
    // outstanding token, for the messages it causes.
    virtual void on_request(Connection& connection, const xen::xs::MessageHeader& header,
                            std::string_view payload,
                            const std::shared_ptr<RequestToken>& token) = 0;
    // The connection failed or its peer went away; it is closed already.
    virtual void on_closed(Connection& connection, const std::string& reason) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(boost::asio::any_io_executor executor, ConnectionId id, xen::DomId domid,
               const ConnectionLimits& limits, ConnectionOwner& owner);
    virtual ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    ConnectionId id() const noexcept { return id_; }
    xen::DomId domid() const noexcept { return domid_; }
    // dom0 (every socket client) is privileged: no outstanding quota.
    bool privileged() const noexcept { return domid_ == 0; }
    bool closed() const noexcept { return closed_; }
    // What the logs call it: "socket connection 3", "dom 5 ring (connection 4)".
    virtual std::string describe() const = 0;

    // Starts taking requests.
    void start();

    // Queues a reply or watch event; `cause` keeps its request outstanding
    // until the message is written out (null: nobody's). Dropped once closed.
    void queue(const xen::xs::MessageHeader& header, std::string_view payload,
               std::shared_ptr<RequestToken> cause);

    // Stops for good: nothing more is read or written, queued output is
    // dropped, the transport is released. Does not tell the owner.
    void close();

  protected:
    // The transport, non-blocking.
    // Reads up to buffer.size() bytes; 0 when nothing is there now. On a
    // failure or end of stream it calls fail() and returns 0.
    virtual std::size_t read_some(std::span<char> buffer) = 0;
    // Writes up to data.size() bytes; 0 when there is no room now. On a
    // failure it calls fail() and returns 0.
    virtual std::size_t write_some(std::span<const char> data) = 0;
    // Calls service() once more input may have arrived (or room for output
    // appeared, where the transport signals both the same way).
    virtual void wait_input() = 0;
    // Calls service() once there may be room for output.
    virtual void wait_output() = 0;
    // After a service() round: e.g. notify the peer of what moved.
    virtual void round_done() {}
    // Before the connection closes because the peer broke the protocol:
    // `error` is the XENSTORE_ERROR_* a ring reports to its guest.
    virtual void report_error(std::uint32_t /*error*/) noexcept {}
    // Releases the transport (close the socket, unbind and unmap).
    virtual void close_transport() noexcept = 0;

    // Takes requests and writes output as far as both can go now.
    void service();
    // close(), then tells the owner why.
    void fail(const std::string& reason);
    // Runs service() soon, from the loop (never from inside the store).
    void schedule_service();
    // Forgets the message being read and everything queued for the peer,
    // when the transport starts over (the request in progress is lost).
    void discard_streams();

  private:
    friend class RequestToken;

    using Clock = std::chrono::steady_clock;

    struct Outgoing {
        std::string bytes;  // header and payload
        std::size_t written = 0;
        std::shared_ptr<RequestToken> cause;
        std::optional<Clock::time_point> expires;  // watch events to a guest
    };

    void read_requests();
    void write_output();
    bool over_quota() const noexcept;
    void request_done();
    void arm_expiry();
    void expire_events();

    boost::asio::any_io_executor executor_;
    ConnectionId id_;
    xen::DomId domid_;
    ConnectionLimits limits_;
    ConnectionOwner& owner_;
    boost::asio::steady_timer expiry_timer_;
    bool expiry_armed_ = false;
    std::size_t events_dropped_ = 0;

    FrameReader reader_;
    std::deque<Outgoing> output_;
    std::size_t outstanding_ = 0;
    bool started_ = false;
    bool closed_ = false;
    bool service_scheduled_ = false;
};

}  // namespace pvsim::xenstore::server
