#include "common/os/hangup_watch.hpp"

#include <poll.h>

#include <cerrno>
#include <utility>

namespace pvsim::os {

HangupWatch::HangupWatch(int socket_fd, std::function<void()> on_hangup)
    : socket_(duplicate_fd(socket_fd)), on_hangup_(std::move(on_hangup)) {
    thread_ = std::thread([this] { run(); });
}

HangupWatch::~HangupWatch() {
    stop_.signal();
    thread_.join();
}

void HangupWatch::run() {
    pollfd fds[2] = {{stop_.fd(), POLLIN, 0}, {socket_.get(), POLLRDHUP, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (fds[0].revents != 0) {
            return;
        }
        if (fds[1].revents != 0) {
            on_hangup_();
            return;
        }
    }
}

}  // namespace pvsim::os
