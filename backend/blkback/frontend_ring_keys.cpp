#include "backend/blkback/frontend_ring_keys.hpp"

#include <cerrno>
#include <cstdint>
#include <limits>
#include <optional>

#include "common/xen/blkif.hpp"

namespace pvsim::backend::blkback {
namespace {

// xenbus_read_unsigned: the default when the node is missing; a value that
// is there but not a number is an error here.
std::uint64_t read_unsigned(xenstore::client::Client& client, const std::string& path,
                            std::uint64_t default_value) {
    const std::optional<std::string> text = client.try_read(path);
    if (!text) {
        return default_value;
    }
    const auto value = parse_node_unsigned(*text, std::numeric_limits<std::uint32_t>::max());
    if (!value) {
        throw NodeError(EINVAL, "reading " + path + ": " + in_quotes(*text) + " is not a number");
    }
    return *value;
}

// A node that must be there and hold a number up to `max`.
std::uint64_t read_required(xenstore::client::Client& client, const std::string& path,
                            std::uint64_t max) {
    const std::optional<std::string> text = client.try_read(path);
    if (!text) {
        throw NodeError(EINVAL, "reading " + path + ": missing");
    }
    const auto value = parse_node_unsigned(*text, max);
    if (!value) {
        throw NodeError(EINVAL, "reading " + path + ": " + in_quotes(*text) + " is not a number");
    }
    return *value;
}

}  // namespace

FrontendRing read_frontend_ring(xenstore::client::Client& client, const std::string& frontend) {
    FrontendRing ring;
    ring.protocol = client.try_read(frontend + "/protocol").value_or("");
    if (!ring.protocol.empty() && ring.protocol != xen::kXenIoProtoAbiNative) {
        // connect_ring: "unknown fe protocol %s" -> -ENOSYS. Linux also
        // translates x86_32-abi; pvsim has only the native layout.
        throw NodeError(ENOSYS, "unknown fe protocol " + ring.protocol + " (only " +
                                    std::string(xen::kXenIoProtoAbiNative) + " is served)");
    }
    ring.persistent = read_unsigned(client, frontend + "/feature-persistent", 0) != 0;

    const std::uint64_t queues = read_unsigned(client, frontend + "/multi-queue-num-queues", 1);
    if (queues == 0 || queues > kMaxQueues) {
        throw NodeError(ENOSYS, "guest requested " + std::to_string(queues) +
                                    " queues, exceeding the maximum of " +
                                    std::to_string(kMaxQueues) + ".");
    }

    ring.event_channel = static_cast<xen::EvtchnPort>(read_required(
        client, frontend + "/event-channel", std::numeric_limits<xen::EvtchnPort>::max()));
    if (client.try_read(frontend + "/ring-page-order")) {
        const std::uint64_t order = read_unsigned(client, frontend + "/ring-page-order", 0);
        if (order > kMaxRingPageOrder) {
            throw NodeError(EINVAL,
                            frontend + "/request " + std::to_string(order) +
                                " ring page order exceed max:" + std::to_string(kMaxRingPageOrder));
        }
        ring.ring_ref = static_cast<xen::GrantRef>(read_required(
            client, frontend + "/ring-ref0", std::numeric_limits<xen::GrantRef>::max()));
    } else {
        ring.ring_ref = static_cast<xen::GrantRef>(read_required(
            client, frontend + "/ring-ref", std::numeric_limits<xen::GrantRef>::max()));
    }
    return ring;
}

}  // namespace pvsim::backend::blkback
