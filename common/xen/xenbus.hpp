// XenbusState: the state each end of a split device publishes in its `state`
// node (xen/io/xenbus.h). The numbers are the ABI; the names are the ones
// Linux prints (xenbus_strstate) so logs read the same as a real guest's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pvsim::xen {

enum class XenbusState : std::uint32_t {
    unknown = 0,
    initialising = 1,
    init_wait = 2,    // limits published, waiting for the peer (or hotplug)
    initialised = 3,  // frontend: ring keys written, waiting for the backend
    connected = 4,
    closing = 5,  // closing because of an error or an unplug
    closed = 6,
    reconfiguring = 7,
    reconfigured = 8,
};

inline constexpr std::array<std::string_view, 9> kXenbusStateNames = {
    "Unknown", "Initialising", "InitWait",      "Initialised",  "Connected",
    "Closing", "Closed",       "Reconfiguring", "Reconfigured",
};

constexpr std::string_view name(XenbusState state) {
    auto index = static_cast<std::uint32_t>(state);
    return index < kXenbusStateNames.size() ? kXenbusStateNames[index] : "Invalid";
}

// The value of a `state` node: a decimal number and nothing else. Anything
// else is nullopt; the caller decides, since a peer may write garbage
// (DESIGN.md §8). Linux reads it with "%d" and treats failure as Unknown.
std::optional<XenbusState> xenbus_state_from_node(std::string_view text);

// A state as a person types it in a script or on the command line: its
// number or its name, case-insensitive ("4", "Connected", "initwait").
std::optional<XenbusState> xenbus_state_from_name(std::string_view text);

}  // namespace pvsim::xen
