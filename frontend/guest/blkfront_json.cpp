// blkfront devices as the guest agent reports them (blkfront_json.hpp).
#include "frontend/guest/blkfront_json.hpp"

#include "common/counter_set.hpp"

namespace pvsim::frontend::guest {

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
    return {{"persistent", n.persistent},
            {"indirect_segments", n.indirect_segments},
            {"queues", n.queues},
            {"ring_page_order", n.ring_page_order},
            {"discard", n.discard},
            {"flush_cache", n.flush_cache},
            {"barrier", n.barrier},
            {"bounce", n.bounce},
            {"discard_granularity", n.discard_granularity},
            {"discard_alignment", n.discard_alignment},
            {"secure_discard", n.secure_discard}};
}

}  // namespace pvsim::frontend::guest
