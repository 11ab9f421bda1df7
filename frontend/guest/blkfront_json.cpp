// blkfront devices as the guest agent reports them (blkfront_json.hpp).
#include "frontend/guest/blkfront_json.hpp"

#include <cstdint>

namespace pvsim::frontend::guest {
namespace {

// Each counter once, so that the full form and the delta cannot disagree
// on names.
template <typename Visit>
void for_each_counter(const blkfront::BlkfrontCounters& c, Visit&& visit) {
    visit("requests", c.requests);
    visit("segments", c.segments);
    visit("bytes", c.bytes);
    visit("responses", c.responses);
    visit("notifications_sent", c.notifications_sent);
    visit("notifications_suppressed", c.notifications_suppressed);
    visit("notifications_received", c.notifications_received);
    visit("grants_deferred", c.grants_deferred);
    visit("indirect_requests", c.indirect_requests);
    visit("data_copies", c.data_copies);
    visit("discards", c.discards);
    visit("flushes", c.flushes);
    visit("recovered", c.recovered);
}

// Gauges: what is now, never a difference.
template <typename Visit>
void for_each_gauge(const blkfront::BlkfrontCounters& c, Visit&& visit) {
    visit("persistent_grants", c.persistent_grants);
    visit("queues", c.queues);
    visit("ring_pages", c.ring_pages);
}

}  // namespace

nlohmann::json counters_json(const blkfront::BlkfrontCounters& counters) {
    nlohmann::json json = nlohmann::json::object();
    for_each_counter(counters, [&](const char* name, std::uint64_t value) { json[name] = value; });
    for_each_gauge(counters, [&](const char* name, std::uint64_t value) { json[name] = value; });
    return json;
}

nlohmann::json counters_delta(const blkfront::BlkfrontCounters& before,
                              const blkfront::BlkfrontCounters& after) {
    nlohmann::json json = counters_json(after);
    for_each_counter(before, [&](const char* name, std::uint64_t value) {
        const std::uint64_t now = json[name].get<std::uint64_t>();
        json[name] = now >= value ? now - value : 0;
    });
    return json;
}

void add_open_device_fields(nlohmann::json& device, const blkfront::Blkfront& blkfront) {
    device["state"] = static_cast<unsigned>(blkfront.state());
    device["backend_state"] = static_cast<unsigned>(blkfront.backend_state());
    device["backend"] = blkfront.backend_path();
    device["capacity_sectors"] = blkfront.capacity_sectors();
    device["sector_size"] = blkfront.sector_size();
    device["read_only"] = blkfront.read_only();
    device["error"] = blkfront.error();
    device["in_flight"] = blkfront.in_flight();
    device["counters"] = counters_json(blkfront.counters());
    device["features"] = features_json(blkfront.negotiated());
    device["recoveries"] = blkfront.recoveries();
}

nlohmann::json features_json(const blkfront::XenbusFrontend::Negotiated& n) {
    return {{"persistent", n.persistent}, {"indirect_segments", n.indirect_segments},
            {"queues", n.queues},         {"ring_page_order", n.ring_page_order},
            {"discard", n.discard},       {"flush_cache", n.flush_cache},
            {"barrier", n.barrier}};
}

}  // namespace pvsim::frontend::guest
