// One hypercall connection (hypervisor/protocol/hypercall.hpp): sends the
// welcome, then reads a RequestHeader and its payload, hands them to the
// dispatcher, sends the reply, and reads the next. One request at a time,
// so replies keep the order of requests and a peer that does not read its
// replies only stalls itself.
//
// Broken framing (a length over kMaxPayload, the peer closing in the middle
// of a message, a read or write error) ends the connection; the owner hears
// of it through the closed handler, once, and decides what the end means
// (a dom0 connection's ports and mappings go; a guest dies).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/os/unix_socket.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/server/domain.hpp"
#include "hypervisor/server/hypercall_dispatch.hpp"

namespace pvsim::hypervisor::server {

class HypercallSession : public std::enable_shared_from_this<HypercallSession> {
  public:
    using Handler = std::function<HypercallReply(HypercallSession&, std::uint32_t op,
                                                 std::span<const std::byte>)>;
    // `reason` is for logs; `broken` tells a framing or I/O error from an
    // orderly hang-up between messages.
    using ClosedHandler =
        std::function<void(HypercallSession&, const std::string& reason, bool broken)>;

    HypercallSession(os::LocalSocket socket, xen::DomId domid, ConnectionId id, Handler handler,
                     ClosedHandler closed);

    // Sends `welcome`, then serves requests.
    void start(HypercallReply welcome);
    // Closes the connection from this side; the closed handler is not called.
    void close();

    xen::DomId domid() const noexcept { return domid_; }
    ConnectionId id() const noexcept { return id_; }
    bool open() const noexcept { return !closed_; }

  private:
    void send(HypercallReply reply, std::uint32_t op, bool then_read);
    void read_header();
    void read_payload();
    void fail(const std::string& reason, bool broken);

    os::LocalSocket socket_;
    xen::DomId domid_;
    ConnectionId id_;
    Handler handler_;
    ClosedHandler closed_handler_;
    bool closed_ = false;
    wire::RequestHeader header_{};
    std::vector<std::byte> payload_;
};

}  // namespace pvsim::hypervisor::server
