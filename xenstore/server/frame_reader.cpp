#include "xenstore/server/frame_reader.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace pvsim::xenstore::server {

std::size_t FrameReader::wanted() const noexcept {
    switch (state_) {
        case State::header:
            return sizeof(header_bytes_) - used_;
        case State::payload:
            return message_.header.len - used_;
        case State::complete:
        case State::broken:
            break;
    }
    return 0;
}

std::size_t FrameReader::feed(std::span<const char> input) {
    std::size_t taken = 0;
    while (taken < input.size() && wanted() > 0) {
        const std::size_t n = std::min(wanted(), input.size() - taken);
        if (state_ == State::header) {
            std::memcpy(header_bytes_ + used_, input.data() + taken, n);
            used_ += n;
            taken += n;
            if (used_ < sizeof(header_bytes_)) {
                continue;
            }
            std::memcpy(&message_.header, header_bytes_, sizeof(header_bytes_));
            used_ = 0;
            if (message_.header.len > xen::xs::kPayloadMax) {
                state_ = State::broken;
                break;
            }
            message_.payload.assign(message_.header.len, '\0');
            state_ = message_.header.len == 0 ? State::complete : State::payload;
        } else {
            std::memcpy(message_.payload.data() + used_, input.data() + taken, n);
            used_ += n;
            taken += n;
            if (used_ == message_.header.len) {
                state_ = State::complete;
            }
        }
    }
    return taken;
}

FrameReader::Message FrameReader::take() {
    if (state_ != State::complete) {
        throw std::logic_error("FrameReader::take: no complete message");
    }
    Message message = std::exchange(message_, Message{});
    state_ = State::header;
    used_ = 0;
    return message;
}

}  // namespace pvsim::xenstore::server
