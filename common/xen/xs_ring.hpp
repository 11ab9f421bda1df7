// The two byte rings of a guest's xenstore page (struct
// xenstore_domain_interface, xen/io/xs_wire.h), one piece of code for both
// ends: the guest produces requests into `req` and consumes replies and watch
// events from `rsp`; xenstored does the reverse. It follows Linux's
// drivers/xen/xenbus/xenbus_comms.c (xb_write / xb_read) and the C
// xenstored's tools/xenstored/domain.c (writechn / readchn):
//  - the indices are free-running and masked on use; each is written by one
//    end only and accessed here through std::atomic_ref;
//  - the producer reads the consumer's index before writing into the space
//    it freed, and publishes its own index only after the bytes are there;
//    the consumer reads the producer's index before the bytes, and frees the
//    space only after copying them out;
//  - indices a ring cannot have (more than a ring apart) come from a broken
//    or hostile peer: nothing is moved and RingIndexError says so. Linux
//    then fails with EIO, the C xenstored drops the connection; which one is
//    the caller's decision.
//
// Waiting and notifying are the caller's: these functions never block. They
// say, with Linux's rules, when the other end may be asleep waiting for what
// was just done and so needs an event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string_view>

#include "common/xen/xs_wire.hpp"

namespace pvsim::xen::xs {

// Which end of the page the caller is: the guest writes `req` and reads
// `rsp`, xenstored writes `rsp` and reads `req`.
enum class RingSide { guest, server };

// A ring's indices are more than a ring apart (xs::indexes_valid failed).
class RingIndexError : public std::runtime_error {
  public:
    RingIndexError(std::string_view ring, std::uint32_t cons, std::uint32_t prod);
    std::uint32_t cons() const noexcept { return cons_; }
    std::uint32_t prod() const noexcept { return prod_; }

  private:
    std::uint32_t cons_;
    std::uint32_t prod_;
};

// What one write_some / read_some did.
struct RingTransfer {
    std::size_t bytes = 0;  // bytes moved
    // The other end may be waiting for this: signal the event channel.
    // Producer (xb_write): the consumer had caught up with everything
    // produced before, so it may be asleep on an empty ring. Consumer
    // (xb_read): the ring was full, so the producer may be asleep waiting
    // for room. (The C xenstored simply notifies after every transfer; that
    // is always correct too.)
    bool notify = false;
};

// Copies as much of `data` as there is room for into the ring `side`
// produces into, and publishes it. Throws RingIndexError.
RingTransfer write_some(DomainInterface& intf, RingSide side, std::span<const char> data);

// Copies up to buffer.size() bytes out of the ring `side` consumes, and
// frees their space. Throws RingIndexError.
RingTransfer read_some(DomainInterface& intf, RingSide side, std::span<char> buffer);

// Room write_some would find now / bytes read_some would find now, for a
// caller's wait condition. Throw RingIndexError.
std::size_t writable(DomainInterface& intf, RingSide side);
std::size_t readable(DomainInterface& intf, RingSide side);

}  // namespace pvsim::xen::xs
