#include "xenstore/server/socket_connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

namespace pvsim::xenstore::server {

SocketConnection::SocketConnection(boost::asio::local::stream_protocol::socket socket,
                                   ConnectionId id, const ConnectionLimits& limits,
                                   ConnectionOwner& owner)
    : Connection(socket.get_executor(), id, 0, limits, owner), socket_(std::move(socket)) {
    // Reads and writes are tried first and waited for only when they would
    // block, as C xenstored's poll loop does.
    socket_.non_blocking(true);
}

std::string SocketConnection::describe() const {
    return "socket connection " + std::to_string(id());
}

std::size_t SocketConnection::read_some(std::span<char> buffer) {
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(boost::asio::buffer(buffer.data(), buffer.size()), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        return 0;
    }
    if (ec == boost::asio::error::eof) {
        fail("the client closed the connection");
        return 0;
    }
    if (ec) {
        fail("read: " + ec.message());
        return 0;
    }
    return n;
}

std::size_t SocketConnection::write_some(std::span<const char> data) {
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(boost::asio::buffer(data.data(), data.size()), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        return 0;
    }
    if (ec) {
        fail("write: " + ec.message());
        return 0;
    }
    return n;
}

void SocketConnection::wait_input() {
    wait(boost::asio::socket_base::wait_read, waiting_read_);
}

void SocketConnection::wait_output() {
    wait(boost::asio::socket_base::wait_write, waiting_write_);
}

void SocketConnection::wait(boost::asio::socket_base::wait_type type, bool& waiting) {
    if (waiting || closed()) {
        return;
    }
    waiting = true;
    auto self = std::static_pointer_cast<SocketConnection>(shared_from_this());
    socket_.async_wait(type, [self, &waiting](boost::system::error_code ec) {
        waiting = false;
        if (!ec) {
            self->service();
        }
    });
}

void SocketConnection::close_transport() noexcept {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

}  // namespace pvsim::xenstore::server
