#include "hypervisor/client/event_channel.hpp"

#include <poll.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "hypervisor/client/session.hpp"

namespace pvsim::hypervisor {
namespace {

std::string port_call(const char* op, xen::EvtchnPort port) {
    return std::string(op) + "(port " + std::to_string(port) + ")";
}

}  // namespace

EventChannel::EventChannel(std::shared_ptr<Session> session, xen::EvtchnPort port,
                           os::EventFd incoming)
    : session_(std::move(session)), port_(port), incoming_(std::move(incoming)) {
    if (!session_) {
        throw std::invalid_argument("EventChannel: no session");
    }
    // Ports index the shared-info bitmaps and generation words.
    if (port_ == xen::kInvalidEvtchnPort || port_ >= wire::kMaxEvtchnPorts) {
        throw std::invalid_argument("EventChannel: invalid port " + std::to_string(port));
    }
}

EventChannel::EventChannel(EventChannel&& other) noexcept
    : session_(std::move(other.session_)),
      port_(std::exchange(other.port_, xen::kInvalidEvtchnPort)),
      incoming_(std::move(other.incoming_)),
      notify_(std::move(other.notify_)),
      notify_generation_(other.notify_generation_) {
    other.incoming_.reset();
    other.notify_.reset();
}

EventChannel& EventChannel::operator=(EventChannel&& other) noexcept {
    if (this != &other) {
        try {
            close();
        } catch (...) {
            // The port is given up either way; see ~EventChannel.
        }
        session_ = std::move(other.session_);
        port_ = std::exchange(other.port_, xen::kInvalidEvtchnPort);
        incoming_ = std::move(other.incoming_);
        notify_ = std::move(other.notify_);
        notify_generation_ = other.notify_generation_;
        other.incoming_.reset();
        other.notify_.reset();
    }
    return *this;
}

EventChannel::~EventChannel() {
    try {
        close();
    } catch (...) {
        // A destructor cannot report it; the hypervisor reclaims the port
        // with the connection at the latest.
    }
}

Session& EventChannel::session() const {
    if (!session_) {
        throw std::logic_error("EventChannel: no port");
    }
    return *session_;
}

void EventChannel::cache_notify(os::EventFd notify, std::uint32_t generation) {
    notify_.emplace(std::move(notify));
    notify_generation_ = generation;
}

bool EventChannel::poll() {
    const wire::SharedInfoView info = session().shared_info;
    const std::uint64_t bit = wire::SharedInfoView::bit(port_);
    // Fold the eventfd's count into the pending bit: any number of sends
    // since we last looked is one event (event_channel.c: evtchn_set_pending
    // is a test-and-set).
    if (incoming_->try_consume() != 0) {
        info.pending_word(port_).fetch_or(bit, std::memory_order_acq_rel);
    }
    if ((info.pending_word(port_).load(std::memory_order_acquire) & bit) == 0) {
        return false;
    }
    if ((info.mask_word(port_).load(std::memory_order_acquire) & bit) != 0) {
        return false;  // stays pending until unmasked
    }
    // Test-and-clear, as a guest's upcall handler does before running the
    // port's handler, so that a send arriving now raises it again.
    if ((info.pending_word(port_).fetch_and(~bit, std::memory_order_acq_rel) & bit) == 0) {
        return false;
    }
    info.events_delivered().fetch_add(1, std::memory_order_relaxed);
    return true;
}

void EventChannel::wait() {
    while (!poll()) {
        pollfd entry{.fd = fd(), .events = POLLIN, .revents = 0};
        while (::poll(&entry, 1, -1) < 0) {
            if (errno != EINTR) {
                os::throw_system_error("poll event channel port " + std::to_string(port_));
            }
        }
    }
}

void EventChannel::notify() {
    Session& s = session();
    if (notify_ &&
        s.shared_info.generation(port_).load(std::memory_order_acquire) == notify_generation_) {
        notify_->signal();
        s.shared_info.events_sent_fast().fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::string what = port_call("EVTCHNOP_send", port_);
    wire::EvtchnPortOp op{};
    op.port = port_;
    HypercallReply reply = s.channel.call(wire::Op::evtchn_send, bytes_of(op));
    if (reply.result < 0) {
        throw refused(what, reply.result);
    }
    const auto out = reply_as<wire::EvtchnPortOp>(reply, what);
    if (out.delivered != 0 && reply.fds.size() == 1) {
        cache_notify(os::EventFd(std::move(reply.fds[0])), out.generation);
    } else {
        // Unbound (the send was dropped) or no fd to go on with: the next
        // send asks the hypervisor again.
        notify_.reset();
    }
}

void EventChannel::mask() {
    const wire::SharedInfoView info = session().shared_info;
    info.mask_word(port_).fetch_or(wire::SharedInfoView::bit(port_), std::memory_order_acq_rel);
}

void EventChannel::unmask() {
    Session& s = session();
    const std::uint64_t bit = wire::SharedInfoView::bit(port_);
    s.shared_info.mask_word(port_).fetch_and(~bit, std::memory_order_acq_rel);
    // evtchn_unmask: an event that arrived while masked is re-raised by the
    // hypervisor, which signals our eventfd so that a waiter in poll(2) wakes.
    if ((s.shared_info.pending_word(port_).load(std::memory_order_acquire) & bit) != 0) {
        wire::EvtchnPortOp op{};
        op.port = port_;
        const HypercallReply reply = s.channel.call(wire::Op::evtchn_unmask, bytes_of(op));
        if (reply.result < 0) {
            throw refused(port_call("EVTCHNOP_unmask", port_), reply.result);
        }
    }
}

bool EventChannel::masked() const {
    return (session().shared_info.mask_word(port_).load(std::memory_order_acquire) &
            wire::SharedInfoView::bit(port_)) != 0;
}

bool EventChannel::pending() const {
    return (session().shared_info.pending_word(port_).load(std::memory_order_acquire) &
            wire::SharedInfoView::bit(port_)) != 0;
}

void EventChannel::close() {
    const std::shared_ptr<Session> session = std::move(session_);
    const xen::EvtchnPort port = std::exchange(port_, xen::kInvalidEvtchnPort);
    incoming_.reset();
    notify_.reset();
    if (!session) {
        return;
    }
    wire::EvtchnPortOp op{};
    op.port = port;
    try {
        const HypercallReply reply = session->channel.call(wire::Op::evtchn_close, bytes_of(op));
        if (reply.result < 0) {
            throw refused(port_call("EVTCHNOP_close", port), reply.result);
        }
    } catch (const HypercallError& e) {
        // The connection is gone, and with it every port it made.
        if (e.error() != ECONNRESET && e.error() != EPIPE) {
            throw;
        }
    }
}

}  // namespace pvsim::hypervisor
