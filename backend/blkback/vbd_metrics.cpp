#include "backend/blkback/vbd_metrics.hpp"

namespace pvsim::backend::blkback {
namespace {

std::uint64_t load(const VbdMetrics::Counter& counter) noexcept {
    return counter.load(std::memory_order_relaxed);
}

}  // namespace

VbdCounters VbdMetrics::snapshot() const noexcept {
    VbdCounters c;
    c.requests = load(requests);
    c.reads = load(reads);
    c.writes = load(writes);
    c.flushes = load(flushes);
    c.errors = load(errors);
    c.unsupported = load(unsupported);
    c.segments = load(segments);
    c.bytes_read = load(bytes_read);
    c.bytes_written = load(bytes_written);
    c.responses = load(responses);
    c.notifications_sent = load(notifications_sent);
    c.notifications_suppressed = load(notifications_suppressed);
    c.notifications_received = load(notifications_received);
    c.grant_maps = load(grant_maps);
    c.grant_unmaps = load(grant_unmaps);
    c.grant_map_failures = load(grant_map_failures);
    c.map_hypercalls = load(map_hypercalls);
    c.unmap_hypercalls = load(unmap_hypercalls);
    c.poll_hits = load(poll_hits);
    c.sleeps = load(sleeps);
    c.persistent_grants = load(persistent_grants);
    c.persistent_purged = load(persistent_purged);
    c.grant_copies = load(grant_copies);
    c.copy_hypercalls = load(copy_hypercalls);
    c.indirect_requests = load(indirect_requests);
    c.discards = load(discards);
    c.barriers = load(barriers);
    return c;
}

nlohmann::json VbdCounters::to_json() const {
    return nlohmann::json{
        {"requests", requests},
        {"reads", reads},
        {"writes", writes},
        {"flushes", flushes},
        {"errors", errors},
        {"unsupported", unsupported},
        {"segments", segments},
        {"bytes", bytes()},
        {"bytes_read", bytes_read},
        {"bytes_written", bytes_written},
        {"responses", responses},
        {"notifications_sent", notifications_sent},
        {"notifications_suppressed", notifications_suppressed},
        {"notifications_received", notifications_received},
        {"grant_maps", grant_maps},
        {"grant_unmaps", grant_unmaps},
        {"grant_map_failures", grant_map_failures},
        {"map_hypercalls", map_hypercalls},
        {"unmap_hypercalls", unmap_hypercalls},
        {"poll_hits", poll_hits},
        {"sleeps", sleeps},
        {"persistent_grants", persistent_grants},
        {"persistent_purged", persistent_purged},
        {"grant_copies", grant_copies},
        {"copy_hypercalls", copy_hypercalls},
        {"indirect_requests", indirect_requests},
        {"discards", discards},
        {"barriers", barriers},
    };
}

}  // namespace pvsim::backend::blkback
