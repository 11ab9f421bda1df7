// Waiting for a node to satisfy a condition, as libxl's libxl__xswait
// (tools/libs/light/libxl_xshelp.c) does for the toolstack: a watch on the
// node, and the node read again after each of its events, so that no
// change between two events is lost (the value is read here, never in the
// watch callback). Blocks the calling thread; not for a control plane's
// executor.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "xenstore/client/client.hpp"

namespace pvsim::xenstore::client {

struct XswaitResult {
    // The value read last; nullopt when the node was absent.
    std::optional<std::string> value;
    bool accepted = false;
};

// Blocks until `accept` returns true for the value of `path` (nullopt:
// absent) or `timeout` passes. Several threads may wait on one node over
// one client at once.
XswaitResult xswait(Client& client, const std::string& path,
                    const std::function<bool(const std::optional<std::string>&)>& accept,
                    std::chrono::milliseconds timeout);

}  // namespace pvsim::xenstore::client
