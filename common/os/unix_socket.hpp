// Unix stream sockets that carry file descriptors (SCM_RIGHTS, unix(7)), used
// with Boost.Asio: the hypervisor hands a domain its hypercall connection as
// an inherited socket and sends it memory, grant-table and event-channel fds
// over it; vhost-user sends guest memory and kick/call eventfds the same way
// (vhost-user.rst, "Communication").
//
// Asio has no API for ancillary data, so sending and receiving fds is done
// here by hand with sendmsg/recvmsg on the socket's native handle; Asio is
// used for what it does well, waiting for readiness (async_wait).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <filesystem>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/error_code.hpp>

#include "common/os/unique_fd.hpp"

namespace pvsim::os {

using LocalSocket = boost::asio::local::stream_protocol::socket;

// SCM_MAX_FD in Linux's include/net/scm.h: no message carries more.
inline constexpr std::size_t kMaxFdsPerMessage = 253;

// Binds and listens on `path` so that only this user may connect (mode 0600:
// whoever connects to a pvsim daemon's socket speaks with dom0's authority):
// bound under a umask that leaves 0600, then made sure of with chmod.
void listen_private(boost::asio::local::stream_protocol::acceptor& acceptor,
                    const std::filesystem::path& path);

// Two connected AF_UNIX stream sockets, close-on-exec: one end stays here,
// the other is handed to a spawned process as an inherited fd.
std::pair<UniqueFd, UniqueFd> make_socket_pair();

// Wraps a connected unix stream socket fd (inherited, or one end of
// make_socket_pair) in an Asio socket. Fails with a clear error if the fd is
// not a unix stream socket.
LocalSocket adopt_socket(const LocalSocket::executor_type& executor, UniqueFd fd);
inline LocalSocket adopt_socket(boost::asio::io_context& context, UniqueFd fd) {
    return adopt_socket(context.get_executor(), std::move(fd));
}

// What one recvmsg delivered: `size` bytes at the start of the buffer, and
// the fds that came with them (close-on-exec, owned).
struct ReceivedData {
    std::size_t size = 0;
    std::vector<UniqueFd> fds;
};

// Sends all of `data`, the fds attached to its first byte (the kernel
// delivers them with the recvmsg that reads that byte). Handles EINTR,
// partial writes and non-blocking sockets (it polls until writable). `data`
// may not be empty when fds are sent: a stream socket carries ancillary data
// only alongside bytes. SIGPIPE is suppressed; a closed peer is EPIPE.
void send_with_fds(int socket_fd, std::span<const std::byte> data, std::span<const int> fds = {});
inline void send_with_fds(LocalSocket& socket, std::span<const std::byte> data,
                          std::span<const int> fds = {}) {
    send_with_fds(socket.native_handle(), data, fds);
}

// One recvmsg, never blocking: up to buffer.size() bytes and at most
// `max_fds` fds. Errors go to `ec`: would_block when there is nothing to
// read, eof when the peer has closed, message_size when more fds arrived than
// `max_fds` (MSG_CTRUNC, or a surplus); those fds are all closed and the bytes
// that came with them are lost, so the connection should be dropped.
ReceivedData try_receive_with_fds(int socket_fd, std::span<std::byte> buffer, std::size_t max_fds,
                                  boost::system::error_code& ec);

// Blocking form of try_receive_with_fds (it polls a non-blocking socket).
// Returns size 0 when the peer has closed, as recvmsg does; throws
// std::system_error for every other error.
ReceivedData receive_with_fds(int socket_fd, std::span<std::byte> buffer, std::size_t max_fds);
inline ReceivedData receive_with_fds(LocalSocket& socket, std::span<std::byte> buffer,
                                     std::size_t max_fds) {
    return receive_with_fds(socket.native_handle(), buffer, max_fds);
}

namespace detail {

// The composed operation behind async_receive_with_fds: wait until readable,
// try one recvmsg, wait again if someone else drained the socket meanwhile.
struct AsyncReceiveWithFds {
    LocalSocket& socket;
    std::span<std::byte> buffer;
    std::size_t max_fds;

    template <typename Self>
    void operator()(Self& self) {
        socket.async_wait(LocalSocket::wait_read, std::move(self));
    }

    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec) {
        if (ec) {
            self.complete(ec, ReceivedData{});
            return;
        }
        ReceivedData received = try_receive_with_fds(socket.native_handle(), buffer, max_fds, ec);
        if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
            socket.async_wait(LocalSocket::wait_read, std::move(self));
            return;
        }
        self.complete(ec, std::move(received));
    }
};

}  // namespace detail

// Asynchronous receive: completes with (error_code, ReceivedData), errors as
// in try_receive_with_fds (eof when the peer has closed, operation_aborted
// when cancelled). The buffer must outlive the operation. Any completion
// token works (callback, use_future, use_awaitable...).
// (Boost 1.74's async_compose takes the token as an lvalue reference.)
template <typename CompletionToken>
auto async_receive_with_fds(LocalSocket& socket, std::span<std::byte> buffer, std::size_t max_fds,
                            CompletionToken&& token) {
    return boost::asio::async_compose<CompletionToken,
                                      void(boost::system::error_code, ReceivedData)>(
        detail::AsyncReceiveWithFds{socket, buffer, max_fds}, token, socket);
}

}  // namespace pvsim::os
