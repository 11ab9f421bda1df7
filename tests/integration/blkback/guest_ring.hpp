// The guest's side of blkfront's talk_to_blkback, verb by verb, for tests
// whose frontend is a pvsim_test_domain driven by hand: a ring page granted
// to dom0 and an unbound event channel (make_ring), written with the
// protocol and state Initialised into the vbd's frontend directory
// (hand_over), as Linux's blkfront does without persistent grants.
#pragma once

#include <cstdint>
#include <string>

#include "tests/support/blkback_fixture.hpp"
#include "tools/toolstack/vbd.hpp"

namespace pvsim::test {

struct GuestRing {
    std::uint64_t gfn = 0;
    std::string ref;
    std::string port;
};

inline GuestRing make_ring(TestGuest& guest) {
    GuestRing ring;
    ring.gfn = guest.ok_number("alloc-page");
    ring.ref = guest.ok("grant 0 " + std::to_string(ring.gfn) + " rw");
    ring.port = guest.ok("alloc-unbound 0");
    return ring;
}

inline void frontend_write(TestGuest& guest, const tools::toolstack::VbdPaths& paths,
                           const std::string& key, const std::string& value) {
    guest.ok("xs-write " + paths.frontend + "/" + key + " " + value);
}

inline void hand_over(TestGuest& guest, const tools::toolstack::VbdPaths& paths,
                      const GuestRing& ring) {
    frontend_write(guest, paths, "ring-ref", ring.ref);
    frontend_write(guest, paths, "event-channel", ring.port);
    frontend_write(guest, paths, "protocol", "x86_64-abi");
    frontend_write(guest, paths, "feature-persistent", "0");
    frontend_write(guest, paths, "state", "3");
}

}  // namespace pvsim::test
