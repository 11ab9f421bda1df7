// Cuts a connection's byte stream into xenstore messages (xen/io/xs_wire.h:
// struct xsd_sockmsg and its payload), for socket and ring connections alike.
//
// Framing is the only thing judged here, as in C xenstored's handle_input():
// a header whose len exceeds XENSTORE_PAYLOAD_MAX leaves the stream with no
// trustworthy message boundary, so the connection must be closed. Everything
// else (a payload without its nul, an unknown type, an unknown transaction)
// is a well-framed request that the store answers.
//
// The reader takes at most the bytes of the message in progress, so a
// transport can read no further than it needs (C xenstored reads the header,
// then exactly len payload bytes): a connection that stops taking requests
// leaves the rest in the peer's ring or socket.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::server {

class FrameReader {
  public:
    struct Message {
        xen::xs::MessageHeader header{};
        std::string payload;  // exactly header.len bytes
    };

    // Bytes still missing from the message in progress: the rest of the
    // header, or the rest of its payload. 0 once complete() or broken().
    std::size_t wanted() const noexcept;

    // Takes bytes from the front of `input`, no more than wanted(), and
    // returns how many it took.
    std::size_t feed(std::span<const char> input);

    // A whole message is waiting for take().
    bool complete() const noexcept { return state_ == State::complete; }
    // The message and the reader's reset for the next one. Only when complete().
    Message take();

    // A header announced more than kPayloadMax bytes: nothing after it can be
    // framed. Stays broken.
    bool broken() const noexcept { return state_ == State::broken; }
    // The len of the header that broke the framing (for the log).
    std::uint32_t broken_len() const noexcept { return message_.header.len; }

    // Whether part of a message has been taken (a peer that ends here cut a
    // message short).
    bool mid_message() const noexcept { return state_ != State::header || used_ != 0; }

  private:
    enum class State { header, payload, complete, broken };

    State state_ = State::header;
    std::size_t used_ = 0;  // bytes of the header or payload received so far
    char header_bytes_[sizeof(xen::xs::MessageHeader)] = {};
    Message message_;
};

}  // namespace pvsim::xenstore::server
