#include "xenstore/server/connection.hpp"

#include <array>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

namespace pvsim::xenstore::server {

RequestToken::~RequestToken() {
    if (const std::shared_ptr<Connection> requester = requester_.lock()) {
        requester->request_done();
    }
}

Connection::Connection(boost::asio::any_io_executor executor, ConnectionId id, xen::DomId domid,
                       const ConnectionLimits& limits, ConnectionOwner& owner)
    : executor_(std::move(executor)),
      id_(id),
      domid_(domid),
      limits_(limits),
      owner_(owner),
      expiry_timer_(executor_) {}

Connection::~Connection() = default;

void Connection::start() {
    if (started_ || closed_) {
        return;
    }
    started_ = true;
    service();
}

void Connection::queue(const xen::xs::MessageHeader& header, std::string_view payload,
                       std::shared_ptr<RequestToken> cause) {
    if (closed_) {
        return;
    }
    Outgoing message;
    message.bytes.resize(sizeof header + payload.size());
    std::memcpy(message.bytes.data(), &header, sizeof header);
    std::memcpy(message.bytes.data() + sizeof header, payload.data(), payload.size());
    message.cause = std::move(cause);
    const bool expires =
        !privileged() && limits_.watch_event_timeout.count() > 0 &&
        header.type == static_cast<std::uint32_t>(xen::xs::MessageType::watch_event);
    if (expires) {
        message.expires = Clock::now() + limits_.watch_event_timeout;
    }
    output_.push_back(std::move(message));
    if (expires) {
        arm_expiry();
    }
    schedule_service();
}

void Connection::arm_expiry() {
    if (expiry_armed_ || closed_) {
        return;
    }
    // The first message still waiting that can expire: deadlines grow along
    // the queue, so it is the next one due.
    for (const Outgoing& message : output_) {
        if (message.expires && message.written == 0) {
            expiry_armed_ = true;
            expiry_timer_.expires_at(*message.expires);
            expiry_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
                const std::shared_ptr<Connection> self = weak.lock();
                if (!self) {
                    return;
                }
                self->expiry_armed_ = false;
                if (!ec) {
                    self->expire_events();
                }
            });
            return;
        }
    }
}

void Connection::expire_events() {
    if (closed_) {
        return;
    }
    // core.c check_event_timeout(): only events nothing of which has been
    // written yet; one begun must be finished for the stream to stay framed.
    const Clock::time_point now = Clock::now();
    std::size_t dropped = 0;
    for (auto it = output_.begin(); it != output_.end();) {
        if (it->expires && *it->expires <= now && it->written == 0) {
            it = output_.erase(it);
            ++dropped;
        } else {
            ++it;
        }
    }
    if (dropped > 0) {
        // Once per connection at warning level: each event expires on its
        // own, and a guest that stopped reading would fill the log.
        const auto level = events_dropped_ == 0 ? spdlog::level::warn : spdlog::level::debug;
        events_dropped_ += dropped;
        spdlog::log(level, "{}: dropped {} watch events not taken within {} ms ({} so far)",
                    describe(), dropped, limits_.watch_event_timeout.count(), events_dropped_);
    }
    arm_expiry();
}

void Connection::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    // Dropping the output lets go of the requests it kept outstanding,
    // here and on the connections whose requests caused our watch events.
    std::deque<Outgoing> dropped = std::move(output_);
    output_.clear();
    dropped.clear();
    expiry_timer_.cancel();
    close_transport();
}

void Connection::discard_streams() {
    reader_ = FrameReader{};
    std::deque<Outgoing> dropped = std::move(output_);
    output_.clear();
}

void Connection::fail(const std::string& reason) {
    if (closed_) {
        return;
    }
    close();
    owner_.on_closed(*this, reason);
}

void Connection::service() {
    if (closed_ || !started_) {
        return;
    }
    // The owner may drop its reference to us from inside on_request() or
    // on_closed(); stay alive until the round is over.
    const std::shared_ptr<Connection> self = shared_from_this();
    write_output();
    read_requests();
    write_output();
    if (!closed_) {
        round_done();
    }
}

void Connection::read_requests() {
    std::array<char, sizeof(xen::xs::MessageHeader) + xen::xs::kPayloadMax> buffer;
    while (!closed_) {
        if (reader_.complete()) {
            if (over_quota()) {
                // Resumed by request_done(); the rest stays with the peer.
                return;
            }
            FrameReader::Message message = reader_.take();
            auto token = std::make_shared<RequestToken>(weak_from_this());
            ++outstanding_;
            owner_.on_request(*this, message.header, message.payload, token);
            continue;
        }
        const std::size_t n = read_some(std::span(buffer.data(), reader_.wanted()));
        if (closed_) {
            return;
        }
        if (n == 0) {
            wait_input();
            return;
        }
        reader_.feed(std::span<const char>(buffer.data(), n));
        if (reader_.broken()) {
            // core.c handle_input(): "Client tried to feed us %i", then
            // ignore_connection(conn, XENSTORE_ERROR_PROTO). C xenstored has
            // written the replies to the requests before by then (it takes
            // one request per loop, and writes after each): so do we, as far
            // as the transport takes them now.
            write_output();
            if (closed_) {
                return;
            }
            report_error(xen::xs::kErrorProto);
            fail(
                fmt::format("message header announces {} payload bytes, more than {}: the "
                            "stream can no longer be framed",
                            reader_.broken_len(), xen::xs::kPayloadMax));
            return;
        }
    }
}

void Connection::write_output() {
    while (!closed_ && !output_.empty()) {
        Outgoing& message = output_.front();
        const std::size_t n =
            write_some(std::span<const char>(message.bytes).subspan(message.written));
        if (closed_) {
            return;
        }
        if (n == 0) {
            wait_output();
            return;
        }
        message.written += n;
        if (message.written == message.bytes.size()) {
            output_.pop_front();
        }
    }
}

bool Connection::over_quota() const noexcept {
    return !privileged() && outstanding_ >= limits_.outstanding_requests;
}

void Connection::request_done() {
    const bool was_over = over_quota();
    if (outstanding_ > 0) {
        --outstanding_;
    }
    if (was_over && !closed_) {
        schedule_service();
    }
}

void Connection::schedule_service() {
    if (service_scheduled_ || closed_) {
        return;
    }
    service_scheduled_ = true;
    boost::asio::post(executor_, [weak = weak_from_this()] {
        if (const std::shared_ptr<Connection> self = weak.lock()) {
            self->service_scheduled_ = false;
            self->service();
        }
    });
}

}  // namespace pvsim::xenstore::server
