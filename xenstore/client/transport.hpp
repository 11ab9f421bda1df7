// How a xenstore client reaches xenstored (DESIGN.md §4): whole xs_wire.h
// messages, a 16-byte header and at most XENSTORE_PAYLOAD_MAX bytes of
// payload, over a unix socket (dom0, tools) or a guest's ring page and event
// channel. The client library above sees no difference.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::client {

// One xs_wire message as it travels.
struct Message {
    xen::xs::MessageHeader header{};
    std::string payload;  // header.len bytes

    xen::xs::MessageType type() const { return static_cast<xen::xs::MessageType>(header.type); }
};

class Transport {
  public:
    virtual ~Transport() = default;

    // Sends one whole message (header.len == payload.size() <= 4096). Safe
    // from several threads at once: messages are never interleaved. Throws
    // (std::system_error, xen::xs::RingIndexError...) when the connection is
    // broken or shut down; the stream is then unusable.
    virtual void send(const xen::xs::MessageHeader& header, std::string_view payload) = 0;

    // Blocks for the next whole message. nullopt when the peer closed the
    // connection or after shutdown(). Throws when the stream is broken, e.g.
    // a frame longer than XENSTORE_PAYLOAD_MAX ("an over-long frame closes
    // the connection"). One receiving thread at a time.
    virtual std::optional<Message> receive() = 0;

    // Wakes a blocked receive() (it returns nullopt) and makes later sends
    // fail. Any thread, any number of times.
    virtual void shutdown() noexcept = 0;
};

// Throws std::runtime_error naming `transport` when an incoming header
// announces more than XENSTORE_PAYLOAD_MAX bytes.
void check_incoming_header(const xen::xs::MessageHeader& header, std::string_view transport);

}  // namespace pvsim::xenstore::client
