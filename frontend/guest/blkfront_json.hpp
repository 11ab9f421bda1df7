// How the guest agent reports a blkfront device (agent_protocol.hpp, the
// "devices" DEVICE and COUNTERS objects): the names are those of
// blkfront::BlkfrontCounters and of the xenstore keys the values come from.
#pragma once

#include <nlohmann/json.hpp>

#include "frontend/blkfront/blkfront.hpp"

namespace pvsim::frontend::guest {

// The features negotiated with the backend (agent_protocol.hpp, "features").
nlohmann::json features_json(const blkfront::XenbusFrontend::Negotiated& negotiated);

// What DEVICE carries for an open device besides devid, vdev, nodename and
// state: backend_state, backend, capacity_sectors, sector_size, read_only,
// error, in_flight, counters, features, recoveries.
void add_open_device_fields(nlohmann::json& device, const blkfront::Blkfront& blkfront);

}  // namespace pvsim::frontend::guest
