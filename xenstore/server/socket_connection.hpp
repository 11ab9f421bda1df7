// A client on pvsim-xenstored's unix socket: the toolstack, dom0's drivers,
// Debian's xenstore-utils through libxenstore (XENSTORED_PATH). As in C
// xenstored (tools/xenstored/posix.c, core.c), whoever can open the socket
// is privileged: it speaks as dom0.
#pragma once

#include <string>

#include <boost/asio/local/stream_protocol.hpp>

#include "xenstore/server/connection.hpp"

namespace pvsim::xenstore::server {

class SocketConnection final : public Connection {
  public:
    SocketConnection(boost::asio::local::stream_protocol::socket socket, ConnectionId id,
                     const ConnectionLimits& limits, ConnectionOwner& owner);

    std::string describe() const override;

  protected:
    std::size_t read_some(std::span<char> buffer) override;
    std::size_t write_some(std::span<const char> data) override;
    void wait_input() override;
    void wait_output() override;
    void close_transport() noexcept override;

  private:
    void wait(boost::asio::socket_base::wait_type type, bool& waiting);

    boost::asio::local::stream_protocol::socket socket_;
    bool waiting_read_ = false;
    bool waiting_write_ = false;
};

}  // namespace pvsim::xenstore::server
