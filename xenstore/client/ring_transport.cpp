#include "xenstore/client/ring_transport.hpp"

#include <poll.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/xen/xs_ring.hpp"

namespace pvsim::xenstore::client {

using xen::xs::RingSide;

StoreEventChannel::StoreEventChannel(hypervisor::EventChannel channel)
    : channel_(std::move(channel)) {
    if (!channel_) {
        throw std::invalid_argument("xenstore ring: no event channel");
    }
}

RingTransport::RingTransport(xen::xs::DomainInterface& page, std::unique_ptr<RingEvents> events)
    : page_(page), events_(std::move(events)), stop_(os::EventFd::Options{.nonblocking = true}) {
    if (!events_) {
        throw std::invalid_argument("xenstore ring: no event channel");
    }
}

void RingTransport::notify() {
    const std::lock_guard lock(mutex_);
    events_->notify();
}

bool RingTransport::wait_until(const std::function<bool()>& ready) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (shut_down_) {
            return false;
        }
        const std::uint64_t seen = generation_;
        lock.unlock();
        const bool done = ready();
        lock.lock();
        if (done) {
            return true;
        }
        if (generation_ != seen) {
            continue;  // an event was taken while we looked: look again
        }
        if (polling_) {
            // Woken when the poller took an event, or gave up polling.
            changed_.wait(lock, [&] { return generation_ != seen || shut_down_ || !polling_; });
            continue;
        }
        // An event sent after ready() looked stays pending on the fd, so
        // sleeping now cannot miss it.
        polling_ = true;
        lock.unlock();
        pollfd fds[2] = {{.fd = events_->fd(), .events = POLLIN, .revents = 0},
                         {.fd = stop_.fd(), .events = POLLIN, .revents = 0}};
        int result;
        while ((result = ::poll(fds, 2, -1)) < 0 && errno == EINTR) {
        }
        const int poll_errno = errno;
        lock.lock();
        // Everyone looks again, whatever happens below; the lock is held
        // until the event is taken, so nobody looks before that.
        polling_ = false;
        ++generation_;
        changed_.notify_all();
        if (result < 0) {
            os::throw_system_error("poll xenstore event channel", poll_errno);
        }
        if ((fds[0].revents & POLLIN) != 0) {
            events_->take();
        }
    }
}

void RingTransport::send(const xen::xs::MessageHeader& header, std::string_view payload) {
    std::vector<char> frame(sizeof header + payload.size());
    std::memcpy(frame.data(), &header, sizeof header);
    if (!payload.empty()) {
        std::memcpy(frame.data() + sizeof header, payload.data(), payload.size());
    }
    std::span<const char> rest(frame);

    const std::lock_guard lock(send_mutex_);
    while (!rest.empty()) {
        if (!wait_until([&] { return xen::xs::writable(page_, RingSide::guest) > 0; })) {
            throw std::system_error(EPIPE, std::system_category(), "xenstore ring: shut down");
        }
        const xen::xs::RingTransfer done = xen::xs::write_some(page_, RingSide::guest, rest);
        rest = rest.subspan(done.bytes);
        if (done.notify) {
            notify();
        }
    }
}

bool RingTransport::read_exactly(std::span<char> buffer) {
    while (!buffer.empty()) {
        if (!wait_until([&] { return xen::xs::readable(page_, RingSide::guest) > 0; })) {
            return false;
        }
        const xen::xs::RingTransfer done = xen::xs::read_some(page_, RingSide::guest, buffer);
        buffer = buffer.subspan(done.bytes);
        if (done.notify) {
            notify();
        }
    }
    return true;
}

std::optional<Message> RingTransport::receive() {
    Message message;
    char header[sizeof(xen::xs::MessageHeader)];
    if (!read_exactly(header)) {
        return std::nullopt;
    }
    std::memcpy(&message.header, header, sizeof header);
    check_incoming_header(message.header, "xenstore ring");
    message.payload.resize(message.header.len);
    if (!read_exactly(message.payload)) {
        return std::nullopt;
    }
    return message;
}

void RingTransport::shutdown() noexcept {
    {
        const std::lock_guard lock(mutex_);
        shut_down_ = true;
    }
    changed_.notify_all();
    try {
        stop_.signal();
    } catch (...) {
        // A non-blocking eventfd write cannot fail but for a saturated
        // counter, which signal() already treats as signalled.
    }
}

}  // namespace pvsim::xenstore::client
