// One hypercall connection seen from a domain process: send a request,
// block for its reply (hypervisor/protocol/hypercall.hpp). Thread-safe: calls
// from several threads are serialised, each waiting for its own reply.
//
// Written on blocking sendmsg/recvmsg rather than Asio because a hypercall is
// synchronous for its caller, as a trap into Xen is; the data-plane loops
// that make them have their own waiting to do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/errno_error.hpp"
#include "common/os/unique_fd.hpp"
#include "hypervisor/protocol/hypercall.hpp"

namespace pvsim::hypervisor {

// The hypervisor refused a call as a whole (ReplyHeader::result < 0), or the
// connection failed. `error()` is the positive errno.
class HypercallError : public ErrnoError {
  public:
    HypercallError(std::string what, int error) : ErrnoError(error, std::move(what)) {}
    int error() const noexcept { return errnum(); }
};

struct HypercallReply {
    std::int32_t result = 0;
    std::vector<std::byte> payload;
    std::vector<os::UniqueFd> fds;
};

class HypercallChannel {
  public:
    explicit HypercallChannel(os::UniqueFd socket);

    // Reads the unasked first message (op welcome) with its fds.
    HypercallReply receive_welcome();

    // Sends one request and returns its reply; a negative result is returned,
    // not thrown. Throws HypercallError: ECONNRESET if the connection is
    // lost, EPROTO if a reply does not match its request (wrong op, too long,
    // wrong fd count), E2BIG for a payload over kMaxPayload (nothing sent).
    HypercallReply call(wire::Op op, std::span<const std::byte> payload);

    int fd() const noexcept { return socket_.get(); }

  private:
    HypercallReply receive_reply(wire::Op expected);
    // Reads all of `buffer`, adding the fds that come with it to `fds`.
    void read_exactly(std::span<std::byte> buffer, std::vector<os::UniqueFd>& fds,
                      wire::Op expected);

    std::mutex mutex_;
    os::UniqueFd socket_;
    // Set once a reply broke the framing or the connection failed: the
    // stream is no longer at a message boundary, so later calls fail at once.
    bool broken_ = false;
};

}  // namespace pvsim::hypervisor
