#include "common/os/unix_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace pvsim::os {

void listen_private(boost::asio::local::stream_protocol::acceptor& acceptor,
                    const std::filesystem::path& path) {
    const boost::asio::local::stream_protocol::endpoint endpoint(path.string());
    acceptor.open(endpoint.protocol());
    const mode_t old_mask = ::umask(0177);
    boost::system::error_code ec;
    acceptor.bind(endpoint, ec);
    ::umask(old_mask);
    if (ec) {
        throw std::system_error(ec.value(), std::system_category(), "bind " + path.string());
    }
    if (::chmod(path.c_str(), 0600) != 0) {
        throw_system_error("chmod " + path.string());
    }
    acceptor.listen();
}
namespace {

// Room for `count` fds in one SCM_RIGHTS control message, as an array of
// cmsghdr so that the buffer is aligned as CMSG_FIRSTHDR expects.
std::vector<cmsghdr> control_buffer(std::size_t count) {
    const std::size_t bytes = CMSG_SPACE(count * sizeof(int));
    return std::vector<cmsghdr>((bytes + sizeof(cmsghdr) - 1) / sizeof(cmsghdr));
}

void wait_for(int fd, short events, const char* what) {
    pollfd pfd{.fd = fd, .events = events, .revents = 0};
    while (::poll(&pfd, 1, -1) < 0) {
        if (errno != EINTR) {
            throw_system_error(std::string("poll ") + what);
        }
    }
}

boost::system::error_code errno_code(int err) {
    return {err, boost::system::system_category()};
}

}  // namespace

std::pair<UniqueFd, UniqueFd> make_socket_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        throw_system_error("socketpair");
    }
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

LocalSocket adopt_socket(const LocalSocket::executor_type& executor, UniqueFd fd) {
    const std::string what = "adopt socket fd " + std::to_string(fd.get());
    int domain = 0;
    int type = 0;
    socklen_t len = sizeof(domain);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
        throw_system_error(what);
    }
    len = sizeof(type);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        throw_system_error(what);
    }
    if (domain != AF_UNIX || type != SOCK_STREAM) {
        throw std::system_error(EPROTOTYPE, std::system_category(),
                                what + ": not a unix stream socket");
    }
    LocalSocket socket(executor);
    boost::system::error_code ec;
    socket.assign(boost::asio::local::stream_protocol(), fd.get(), ec);
    if (ec) {
        throw std::system_error(ec.value(), std::system_category(), what);
    }
    (void)fd.release();  // the socket owns it now
    return socket;
}

void send_with_fds(int socket_fd, std::span<const std::byte> data, std::span<const int> fds) {
    if (fds.size() > kMaxFdsPerMessage) {
        throw std::invalid_argument("sendmsg: " + std::to_string(fds.size()) +
                                    " fds in one message, at most " +
                                    std::to_string(kMaxFdsPerMessage) + " allowed");
    }
    if (data.empty() && !fds.empty()) {
        throw std::invalid_argument("sendmsg: fds must travel with at least one byte of data");
    }
    std::vector<cmsghdr> control;
    if (!fds.empty()) {
        control = control_buffer(fds.size());
    }
    std::size_t sent = 0;
    while (sent < data.size()) {
        iovec iov{.iov_base = const_cast<std::byte*>(data.data() + sent),
                  .iov_len = data.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        // The fds ride on the first sendmsg that sends anything; after a
        // partial write they are already on their way.
        if (sent == 0 && !fds.empty()) {
            msg.msg_control = control.data();
            msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
            cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
            std::memcpy(CMSG_DATA(cmsg), fds.data(), fds.size() * sizeof(int));
        }
        const ssize_t n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                wait_for(socket_fd, POLLOUT, "socket");
                continue;
            }
            throw_system_error("sendmsg");
        }
        sent += static_cast<std::size_t>(n);
    }
}

ReceivedData try_receive_with_fds(int socket_fd, std::span<std::byte> buffer, std::size_t max_fds,
                                  boost::system::error_code& ec) {
    ec.clear();
    if (buffer.empty()) {
        // A zero-byte read could not be told apart from end of stream.
        ec = boost::asio::error::invalid_argument;
        return {};
    }
    max_fds = std::min(max_fds, kMaxFdsPerMessage);
    std::vector<cmsghdr> control;
    iovec iov{.iov_base = buffer.data(), .iov_len = buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (max_fds > 0) {
        control = control_buffer(max_fds);
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(max_fds * sizeof(int));
    }
    ssize_t n;
    while ((n = ::recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 &&
           errno == EINTR) {
    }
    if (n < 0) {
        ec = errno_code(errno);
        return {};
    }
    ReceivedData received;
    received.size = static_cast<std::size_t>(n);
    // Take ownership of every fd that arrived before judging the message, so
    // that none can leak whatever is decided.
    if (msg.msg_controllen > 0) {
        for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            const std::size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                received.fds.emplace_back(fd);
            }
        }
    }
    // MSG_CTRUNC: the kernel dropped fds that did not fit. A surplus: CMSG_SPACE
    // rounds up, so the kernel may deliver one more than asked. Both mean the
    // sender broke the protocol's limit.
    if ((msg.msg_flags & MSG_CTRUNC) != 0 || received.fds.size() > max_fds) {
        received.fds.clear();
        ec = boost::asio::error::message_size;
        return received;
    }
    if (n == 0) {
        ec = boost::asio::error::eof;
    }
    return received;
}

ReceivedData receive_with_fds(int socket_fd, std::span<std::byte> buffer, std::size_t max_fds) {
    for (;;) {
        boost::system::error_code ec;
        ReceivedData received = try_receive_with_fds(socket_fd, buffer, max_fds, ec);
        if (!ec || ec == boost::asio::error::eof) {
            return received;
        }
        if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
            wait_for(socket_fd, POLLIN, "socket");
            continue;
        }
        if (ec == boost::asio::error::message_size) {
            throw std::system_error(EMSGSIZE, std::system_category(),
                                    "recvmsg: more than " + std::to_string(max_fds) +
                                        " fds arrived in one message (closed them)");
        }
        throw std::system_error(ec.value(), std::system_category(), "recvmsg");
    }
}

}  // namespace pvsim::os
