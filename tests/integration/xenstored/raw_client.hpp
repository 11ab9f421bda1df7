// A client of pvsim-xenstored's socket spoken to byte by byte
// (xen/io/xs_wire.h), to send what libxenstore never would (oversized
// headers, payloads without their nul, unknown types, garbage) and to look
// at every reply and watch event as it comes.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/os/unique_fd.hpp"
#include "common/xen/xs_wire.hpp"

namespace pvsim::test {

namespace xs = xen::xs;

struct XsMessage {
    xs::MessageHeader header{};
    std::string payload;

    xs::MessageType type() const { return static_cast<xs::MessageType>(header.type); }
    // The payload without its terminating nul, as a string.
    std::string text() const {
        return !payload.empty() && payload.back() == '\0' ? payload.substr(0, payload.size() - 1)
                                                          : payload;
    }
};

// Strings each followed by a nul: how xs_wire.h lays out arguments.
inline std::string xs_args(std::initializer_list<std::string_view> args) {
    std::string out;
    for (const std::string_view arg : args) {
        out.append(arg);
        out.push_back('\0');
    }
    return out;
}

inline std::string xs_header_bytes(std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id,
                                   std::uint32_t len) {
    const xs::MessageHeader header{type, req_id, tx_id, len};
    return std::string(reinterpret_cast<const char*>(&header), sizeof header);
}

class RawXsClient {
  public:
    explicit RawXsClient(const std::filesystem::path& socket_path)
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (!fd_) {
            os::throw_system_error("socket");
        }
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        const std::string text = socket_path.string();
        std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
        if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) !=
            0) {
            os::throw_system_error("connect " + text);
        }
    }

    void send_bytes(std::string_view bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n =
                ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                os::throw_system_error("send");
            }
            sent += static_cast<std::size_t>(n);
        }
    }

    // One well-framed message; returns its req_id.
    std::uint32_t send(xs::MessageType type, std::string_view payload, std::uint32_t tx_id = 0) {
        return send_raw(static_cast<std::uint32_t>(type), payload, tx_id);
    }
    std::uint32_t send_raw(std::uint32_t type, std::string_view payload, std::uint32_t tx_id = 0) {
        const std::uint32_t req_id = next_req_id_++;
        send_bytes(
            xs_header_bytes(type, req_id, tx_id, static_cast<std::uint32_t>(payload.size())) +
            std::string(payload));
        return req_id;
    }

    // The next message, nullopt when the daemon closed the connection.
    // Throws if nothing comes within `limit`.
    std::optional<XsMessage> receive(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        XsMessage message;
        char header[sizeof(xs::MessageHeader)];
        if (!read_exactly(header, sizeof header, limit)) {
            return std::nullopt;
        }
        std::memcpy(&message.header, header, sizeof header);
        message.payload.resize(message.header.len);
        if (message.header.len > 0 &&
            !read_exactly(message.payload.data(), message.header.len, limit)) {
            throw std::runtime_error("xenstored closed the connection inside a message");
        }
        return message;
    }

    // Sends a request and returns its reply; watch events that come first
    // are kept for next_event(). Throws if the connection closes.
    XsMessage request(xs::MessageType type, std::string_view payload, std::uint32_t tx_id = 0) {
        return request_raw(static_cast<std::uint32_t>(type), payload, tx_id);
    }
    XsMessage request_raw(std::uint32_t type, std::string_view payload, std::uint32_t tx_id = 0) {
        const std::uint32_t req_id = send_raw(type, payload, tx_id);
        for (;;) {
            std::optional<XsMessage> message = receive();
            if (!message) {
                throw std::runtime_error("xenstored closed the connection instead of replying");
            }
            if (message->type() == xs::MessageType::watch_event) {
                events_.push_back(std::move(*message));
                continue;
            }
            if (message->header.req_id != req_id) {
                throw std::runtime_error("a reply to req_id " +
                                         std::to_string(message->header.req_id) +
                                         " came for req_id " + std::to_string(req_id));
            }
            return *message;
        }
    }

    // The value of `path`; throws with the error name on XS_ERROR.
    std::string read(std::string_view path) {
        const XsMessage reply = request(xs::MessageType::read, xs_args({path}));
        if (reply.type() == xs::MessageType::error) {
            throw std::runtime_error("XS_READ " + std::string(path) + ": " + reply.text());
        }
        return reply.payload;
    }
    void write(std::string_view path, std::string_view value) {
        std::string payload = xs_args({path});
        payload.append(value);
        const XsMessage reply = request(xs::MessageType::write, payload);
        if (reply.type() == xs::MessageType::error) {
            throw std::runtime_error("XS_WRITE " + std::string(path) + ": " + reply.text());
        }
    }

    // The next watch event, nullopt if none comes within `limit`.
    std::optional<XsMessage> next_event(
        std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        if (events_.empty()) {
            std::optional<XsMessage> message = receive(limit);
            if (!message) {
                throw std::runtime_error("xenstored closed the connection");
            }
            if (message->type() != xs::MessageType::watch_event) {
                throw std::runtime_error("expected a watch event, got " +
                                         std::string(xs::name(message->type())));
            }
            return message;
        }
        XsMessage event = std::move(events_.front());
        events_.pop_front();
        return event;
    }

    // Whether the daemon closes the connection (end of stream) within
    // `limit`; replies that come first are skipped.
    bool closed_by_daemon(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        try {
            while (receive(limit)) {
            }
            return true;
        } catch (const std::runtime_error&) {
            return false;
        }
    }

  private:
    bool read_exactly(char* out, std::size_t size, std::chrono::milliseconds limit) {
        std::size_t got = 0;
        while (got < size) {
            pollfd entry{fd_.get(), POLLIN, 0};
            const int ready = ::poll(&entry, 1, static_cast<int>(limit.count()));
            if (ready < 0 && errno == EINTR) {
                continue;
            }
            if (ready <= 0) {
                throw std::runtime_error("nothing from xenstored within " +
                                         std::to_string(limit.count()) + " ms");
            }
            const ssize_t n = ::recv(fd_.get(), out + got, size - got, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && errno == ECONNRESET) {
                return false;
            }
            if (n < 0) {
                os::throw_system_error("recv");
            }
            if (n == 0) {
                if (got != 0) {
                    throw std::runtime_error("xenstored closed the connection mid-message");
                }
                return false;
            }
            got += static_cast<std::size_t>(n);
        }
        return true;
    }

    os::UniqueFd fd_;
    std::uint32_t next_req_id_ = 1;
    std::deque<XsMessage> events_;
};

}  // namespace pvsim::test
