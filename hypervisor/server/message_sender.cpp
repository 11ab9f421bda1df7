#include "hypervisor/server/message_sender.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <boost/asio/error.hpp>

namespace pvsim::hypervisor::server {
namespace {

struct SendState {
    os::LocalSocket& socket;
    OutgoingMessage message;
    std::function<void(boost::system::error_code)> done;
    std::size_t sent = 0;
};

// One non-blocking sendmsg; the fds ride with the first bytes that go.
// Returns the bytes sent, 0 with EAGAIN in `err` when the buffer is full.
std::size_t send_some(SendState& state, int& err) {
    err = 0;
    iovec iov{.iov_base = state.message.bytes.data() + state.sent,
              .iov_len = state.message.bytes.size() - state.sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<cmsghdr> control;
    const std::size_t fd_count = state.sent == 0 ? state.message.fds.size() : 0;
    if (fd_count > 0) {
        const std::size_t bytes = CMSG_SPACE(fd_count * sizeof(int));
        control.resize((bytes + sizeof(cmsghdr) - 1) / sizeof(cmsghdr));
        msg.msg_control = control.data();
        msg.msg_controllen = bytes;
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(fd_count * sizeof(int));
        int* out = reinterpret_cast<int*>(CMSG_DATA(cmsg));
        for (std::size_t i = 0; i < fd_count; ++i) {
            out[i] = state.message.fds[i].get();
        }
    }
    for (;;) {
        const ssize_t n =
            ::sendmsg(state.socket.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            return static_cast<std::size_t>(n);
        }
        if (errno != EINTR) {
            err = errno;
            return 0;
        }
    }
}

void continue_sending(std::shared_ptr<SendState> state) {
    while (state->sent < state->message.bytes.size()) {
        int err = 0;
        const std::size_t n = send_some(*state, err);
        if (err == EAGAIN || err == EWOULDBLOCK) {
            os::LocalSocket& socket = state->socket;
            socket.async_wait(os::LocalSocket::wait_write,
                              [state = std::move(state)](boost::system::error_code ec) mutable {
                                  if (ec) {
                                      state->done(ec);
                                      return;
                                  }
                                  continue_sending(std::move(state));
                              });
            return;
        }
        if (err != 0) {
            state->done(boost::system::error_code(err, boost::system::system_category()));
            return;
        }
        if (state->sent == 0) {
            state->message.fds.clear();  // in flight now; the kernel holds its own references
        }
        state->sent += n;
    }
    state->done({});
}

}  // namespace

void async_send_message(os::LocalSocket& socket, OutgoingMessage message,
                        std::function<void(boost::system::error_code)> done) {
    auto state =
        std::make_shared<SendState>(SendState{socket, std::move(message), std::move(done)});
    if (!state->socket.is_open()) {
        state->done(boost::asio::error::bad_descriptor);
        return;
    }
    continue_sending(std::move(state));
}

}  // namespace pvsim::hypervisor::server
