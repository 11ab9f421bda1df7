#include "hypervisor/server/hypercall_session.hpp"

#include <cstring>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/read.hpp>

#include "hypervisor/server/message_sender.hpp"

namespace pvsim::hypervisor::server {

HypercallSession::HypercallSession(os::LocalSocket socket, xen::DomId domid, ConnectionId id,
                                   Handler handler, ClosedHandler closed)
    : socket_(std::move(socket)),
      domid_(domid),
      id_(id),
      handler_(std::move(handler)),
      closed_handler_(std::move(closed)) {}

void HypercallSession::start(HypercallReply welcome) {
    send(std::move(welcome), static_cast<std::uint32_t>(wire::Op::welcome), true);
}

void HypercallSession::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
}

void HypercallSession::fail(const std::string& reason, bool broken) {
    if (closed_) {
        return;
    }
    close();
    closed_handler_(*this, reason, broken);
}

void HypercallSession::send(HypercallReply reply, std::uint32_t op, bool then_read) {
    const wire::ReplyHeader header{op, reply.result,
                                   static_cast<std::uint32_t>(reply.payload.size()),
                                   static_cast<std::uint32_t>(reply.fds.size())};
    OutgoingMessage message;
    message.bytes.resize(sizeof header + reply.payload.size());
    std::memcpy(message.bytes.data(), &header, sizeof header);
    if (!reply.payload.empty()) {
        std::memcpy(message.bytes.data() + sizeof header, reply.payload.data(),
                    reply.payload.size());
    }
    message.fds = std::move(reply.fds);
    async_send_message(socket_, std::move(message),
                       [self = shared_from_this(), then_read](boost::system::error_code ec) {
                           if (self->closed_) {
                               return;
                           }
                           if (ec) {
                               const bool hung_up = ec == boost::asio::error::broken_pipe ||
                                                    ec == boost::asio::error::connection_reset;
                               self->fail("reply not sent: " + ec.message(), !hung_up);
                               return;
                           }
                           if (then_read) {
                               self->read_header();
                           }
                       });
}

void HypercallSession::read_header() {
    boost::asio::async_read(
        socket_, boost::asio::buffer(&header_, sizeof header_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
            if (self->closed_) {
                return;
            }
            if (ec == boost::asio::error::eof && bytes == 0) {
                self->fail("closed by the peer", false);
                return;
            }
            if (ec == boost::asio::error::eof) {
                self->fail("the peer closed in the middle of a request header", true);
                return;
            }
            if (ec == boost::asio::error::connection_reset) {
                self->fail("connection reset by the peer", false);
                return;
            }
            if (ec) {
                self->fail("read error: " + ec.message(), true);
                return;
            }
            if (self->header_.length > wire::kMaxPayload) {
                self->fail("request length " + std::to_string(self->header_.length) +
                               " exceeds the limit of " + std::to_string(wire::kMaxPayload),
                           true);
                return;
            }
            self->read_payload();
        });
}

void HypercallSession::read_payload() {
    payload_.resize(header_.length);
    const auto dispatch = [this] {
        HypercallReply reply = handler_(*this, header_.op, payload_);
        if (!closed_) {
            send(std::move(reply), header_.op, true);
        }
    };
    if (payload_.empty()) {
        dispatch();
        return;
    }
    boost::asio::async_read(
        socket_, boost::asio::buffer(payload_),
        [self = shared_from_this(), dispatch](boost::system::error_code ec, std::size_t) {
            if (self->closed_) {
                return;
            }
            if (ec == boost::asio::error::eof) {
                self->fail("the peer closed in the middle of a request payload", true);
                return;
            }
            if (ec) {
                self->fail("read error: " + ec.message(), true);
                return;
            }
            dispatch();
        });
}

}  // namespace pvsim::hypervisor::server
