#include "xenstore/client/socket_transport.hpp"

#include <sys/socket.h>

#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"

namespace pvsim::xenstore::client {

SocketTransport::SocketTransport(os::UniqueFd socket) : socket_(std::move(socket)) {
    if (!socket_) {
        throw std::invalid_argument("xenstore socket transport: no socket");
    }
}

std::unique_ptr<SocketTransport> SocketTransport::connect(const std::filesystem::path& path) {
    check_socket_path(path);
    // Asio opens sockets without SOCK_CLOEXEC, and pvsim processes spawn
    // children: the socket is made here, close-on-exec from the start, and
    // handed to Asio for the connect.
    os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        os::throw_system_error("socket(AF_UNIX) for xenstored at " + path.string());
    }
    boost::asio::io_context context;
    os::LocalSocket socket = os::adopt_socket(context, std::move(fd));
    boost::system::error_code ec;
    socket.connect(boost::asio::local::stream_protocol::endpoint(path.string()), ec);
    if (ec) {
        throw std::system_error(ec.value(), std::system_category(),
                                "connect to xenstored at " + path.string());
    }
    return std::make_unique<SocketTransport>(os::UniqueFd(socket.release()));
}

void SocketTransport::send(const xen::xs::MessageHeader& header, std::string_view payload) {
    std::vector<std::byte> frame(sizeof header + payload.size());
    std::memcpy(frame.data(), &header, sizeof header);
    if (!payload.empty()) {
        std::memcpy(frame.data() + sizeof header, payload.data(), payload.size());
    }
    const std::lock_guard lock(send_mutex_);
    if (shut_down_.load()) {
        throw std::system_error(EPIPE, std::system_category(), "xenstore socket: shut down");
    }
    os::send_with_fds(socket_.get(), frame);
}

bool SocketTransport::read_exactly(std::span<std::byte> buffer) {
    std::size_t done = 0;
    while (done < buffer.size()) {
        const os::ReceivedData received =
            os::receive_with_fds(socket_.get(), buffer.subspan(done), 0);
        if (received.size == 0) {
            return false;
        }
        done += received.size;
    }
    return true;
}

std::optional<Message> SocketTransport::receive() {
    Message message;
    if (!read_exactly(std::as_writable_bytes(std::span(&message.header, 1)))) {
        return std::nullopt;
    }
    check_incoming_header(message.header, "xenstore socket");
    message.payload.resize(message.header.len);
    if (!read_exactly(std::as_writable_bytes(std::span(message.payload)))) {
        return std::nullopt;
    }
    return message;
}

void SocketTransport::shutdown() noexcept {
    shut_down_.store(true);
    // A reader blocked in recvmsg (or poll) sees end of stream; the fd stays
    // open until destruction so that no other thread can reuse its number.
    ::shutdown(socket_.get(), SHUT_RDWR);
}

}  // namespace pvsim::xenstore::client
