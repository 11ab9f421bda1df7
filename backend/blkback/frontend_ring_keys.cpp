#include "backend/blkback/frontend_ring_keys.hpp"

#include <cerrno>
#include <cstdint>
#include <limits>
#include <optional>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_x86_32.hpp"
#include "common/xen/node_values.hpp"

namespace pvsim::backend::blkback {

using xen::in_quotes;
using xen::NodeError;
using xen::parse_node_unsigned;
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

namespace {

// read_per_ring_refs for the directory `dir` (the frontend's, or its
// queue-K).
FrontendQueue read_queue(xenstore::client::Client& client, const std::string& dir,
                         const std::optional<unsigned>& order) {
    FrontendQueue queue;
    queue.event_channel = static_cast<xen::EvtchnPort>(
        read_required(client, dir + "/event-channel", std::numeric_limits<xen::EvtchnPort>::max()));
    if (!order) {
        queue.ring_refs.push_back(static_cast<xen::GrantRef>(
            read_required(client, dir + "/ring-ref", std::numeric_limits<xen::GrantRef>::max())));
        return queue;
    }
    for (unsigned i = 0; i < (1u << *order); ++i) {
        queue.ring_refs.push_back(
            static_cast<xen::GrantRef>(read_required(client, dir + "/ring-ref" + std::to_string(i),
                                                     std::numeric_limits<xen::GrantRef>::max())));
    }
    return queue;
}

}  // namespace

FrontendRing read_frontend_ring(xenstore::client::Client& client, const std::string& frontend,
                                const RingOffer& offer) {
    FrontendRing ring;
    ring.protocol = client.try_read(frontend + "/protocol").value_or("");
    if (!ring.protocol.empty()) {
        // connect_ring: XEN_IO_PROTO_ABI_NATIVE, _X86_32 and _X86_64 are
        // known; any other string is "unknown fe protocol %s" -> -ENOSYS.
        const std::optional<xen::BlkifProtocol> known = xen::parse_blkif_protocol(ring.protocol);
        if (!known) {
            throw NodeError(ENOSYS, "unknown fe protocol " + ring.protocol);
        }
        ring.abi = *known;
    }
    ring.persistent = read_unsigned(client, frontend + "/feature-persistent", 0) != 0;

    const std::uint64_t queues = read_unsigned(client, frontend + "/multi-queue-num-queues", 1);
    if (queues == 0 || queues > offer.max_queues) {
        throw NodeError(ENOSYS, "guest requested " + std::to_string(queues) +
                                    " queues, exceeding the maximum of " +
                                    std::to_string(offer.max_queues) + ".");
    }

    std::optional<unsigned> order;
    if (client.try_read(frontend + "/ring-page-order")) {
        const std::uint64_t value = read_unsigned(client, frontend + "/ring-page-order", 0);
        if (value > offer.max_ring_page_order) {
            throw NodeError(EINVAL, frontend + "/request " + std::to_string(value) +
                                        " ring page order exceed max:" +
                                        std::to_string(offer.max_ring_page_order));
        }
        order = static_cast<unsigned>(value);
        ring.ring_page_order = *order;
    }
    if (queues == 1) {
        ring.queues.push_back(read_queue(client, frontend, order));
    } else {
        for (std::uint64_t k = 0; k < queues; ++k) {
            ring.queues.push_back(
                read_queue(client, frontend + "/queue-" + std::to_string(k), order));
        }
    }
    ring.ring_ref = ring.queues.front().ring_refs.front();
    ring.event_channel = ring.queues.front().event_channel;
    return ring;
}

}  // namespace pvsim::backend::blkback
