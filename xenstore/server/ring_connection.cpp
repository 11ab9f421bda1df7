#include "xenstore/server/ring_connection.hpp"

#include <atomic>

#include <spdlog/spdlog.h>

#include "common/os/unique_fd.hpp"
#include "common/xen/xs_ring.hpp"

namespace pvsim::xenstore::server {
namespace {

using xen::xs::RingSide;

std::atomic_ref<std::uint32_t> shared_field(std::uint32_t& field) {
    return std::atomic_ref<std::uint32_t>(field);
}

}  // namespace

RingConnection::RingConnection(boost::asio::io_context& io, ConnectionId id, xen::DomId domid,
                               std::unique_ptr<ForeignRing> ring, const ConnectionLimits& limits,
                               ConnectionOwner& owner)
    : Connection(io.get_executor(), id, domid, limits, owner), io_(io), ring_(std::move(ring)) {
    prepare_page();
    watch_event();
}

std::string RingConnection::describe() const {
    return "dom " + std::to_string(domid()) + " ring (connection " + std::to_string(id()) + ")";
}

void RingConnection::unbind() {
    if (closed()) {
        return;
    }
    ++attachment_;
    waiting_ = false;
    boost::system::error_code ignored;
    event_->close(ignored);
    ring_->close_channel();
}

void RingConnection::rebind(hypervisor::EventChannel channel) {
    if (closed()) {
        return;
    }
    ring_->set_channel(std::move(channel));
    // domain.c domain_conn_reset().
    xen::xs::DomainInterface& intf = ring_->interface();
    shared_field(intf.req_cons).store(0, std::memory_order_relaxed);
    shared_field(intf.req_prod).store(0, std::memory_order_relaxed);
    shared_field(intf.rsp_cons).store(0, std::memory_order_relaxed);
    shared_field(intf.rsp_prod).store(0, std::memory_order_release);
    discard_streams();
    prepare_page();
    watch_event();
    schedule_service();
}

void RingConnection::prepare_page() {
    xen::xs::DomainInterface& intf = ring_->interface();
    shared_field(intf.server_features)
        .store(xen::xs::kServerFeatureError, std::memory_order_release);
    if (shared_field(intf.connection).load(std::memory_order_acquire) == xen::xs::kReconnect) {
        // "Notify the domain that xenstore is available."
        shared_field(intf.connection).store(xen::xs::kConnected, std::memory_order_release);
        moved_ = true;  // notified at the end of the next round
    }
}

void RingConnection::watch_event() {
    ++attachment_;
    waiting_ = false;
    os::UniqueFd copy = os::duplicate_fd(ring_->channel().fd());
    event_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, copy.get());
    (void)copy.release();  // the descriptor owns it now
}

std::size_t RingConnection::read_some(std::span<char> buffer) {
    try {
        const xen::xs::RingTransfer transfer =
            xen::xs::read_some(ring_->interface(), RingSide::server, buffer);
        moved_ = moved_ || transfer.bytes > 0;
        return transfer.bytes;
    } catch (const xen::xs::RingIndexError& e) {
        broken(e.what());
        return 0;
    }
}

std::size_t RingConnection::write_some(std::span<const char> data) {
    try {
        const xen::xs::RingTransfer transfer =
            xen::xs::write_some(ring_->interface(), RingSide::server, data);
        moved_ = moved_ || transfer.bytes > 0;
        return transfer.bytes;
    } catch (const xen::xs::RingIndexError& e) {
        broken(e.what());
        return 0;
    }
}

void RingConnection::broken(const std::string& reason) {
    // handle_input() / handle_output(): ignore_connection(conn,
    // XENSTORE_ERROR_RINGIDX).
    report_error(xen::xs::kErrorRingIdx);
    fail(reason);
}

void RingConnection::wait_input() {
    if (waiting_ || closed()) {
        return;
    }
    waiting_ = true;
    auto self = std::static_pointer_cast<RingConnection>(shared_from_this());
    event_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [self, attachment = attachment_](boost::system::error_code ec) {
                           if (attachment != self->attachment_) {
                               return;  // a wait on a page and port given up since
                           }
                           self->waiting_ = false;
                           if (ec || self->closed()) {
                               return;
                           }
                           // Take the event (it is one however many sends
                           // came), then look at both rings.
                           self->ring_->channel().poll();
                           self->service();
                       });
}

void RingConnection::round_done() {
    if (!moved_) {
        return;
    }
    moved_ = false;
    try {
        // writechn() / readchn(): xenevtchn_notify after moving bytes.
        ring_->channel().notify();
    } catch (const std::exception& e) {
        fail(std::string("notifying the guest: ") + e.what());
    }
}

void RingConnection::report_error(std::uint32_t error) noexcept {
    if (ring_) {
        shared_field(ring_->interface().error).store(error, std::memory_order_release);
    }
}

void RingConnection::close_transport() noexcept {
    boost::system::error_code ignored;
    if (event_) {
        event_->close(ignored);
    }
    // Unbinds the port and unmaps the page.
    ring_.reset();
}

}  // namespace pvsim::xenstore::server
